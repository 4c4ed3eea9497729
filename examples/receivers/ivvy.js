#!/usr/bin/env node
// An iVvy notification receiver, written as iVvy tells integrators to write one: every message is
// an AWS SNS message, validated with AWS's `sns-validator` package before anything else, and a
// SubscriptionConfirmation is answered by visiting its SubscribeURL. None of Switchyard's code is
// used.
//
// sns-validator accepts certificates only from hosts matching a pattern (by default AWS's SNS
// hosts) and fetches them over HTTPS, so a Switchyard node must serve HTTPS, the pattern must name
// the node's host (with its port), and Node.js must trust the node's TLS certificate
// (NODE_EXTRA_CA_CERTS=cert.pem when it is self-signed).
//
//   node ivvy.js verify --host-pattern '^127\.0\.0\.1:[0-9]+$' [--certificate FILE] MESSAGE.json...
//       Validates each saved message body; prints one JSON line per message
//       {"type", "messageId", "topicArn", "signatureVersion", "message"}, and exits 1 at the
//       first that does not validate. With --certificate, the certificate (or public key) in FILE
//       stands for whatever SigningCertURL names, instead of one fetched over HTTPS, so that saved
//       messages (golden files) validate offline; sns-validator still checks the keys, the URL
//       against the host pattern, and the signature.
//   node ivvy.js serve --host-pattern '^127\.0\.0\.1:[0-9]+$' [--port 8091] [--confirm]
//       Listens on 127.0.0.1; answers 200 to each valid message and 400 to the rest, prints one
//       JSON line per message, and with --confirm visits each confirmation's SubscribeURL.
"use strict";
const http = require("http");
const https = require("https");
const fs = require("fs");
const MessageValidator = require("sns-validator");

function parseArgs(argv) {
  const args = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--confirm") args.confirm = true;
    else if (argv[i].startsWith("--")) args[argv[i].slice(2)] = argv[++i];
    else args._.push(argv[i]);
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
const mode = args._[0];
if (!args["host-pattern"] || (mode !== "serve" && mode !== "verify")) {
  console.error("usage: ivvy.js verify|serve --host-pattern REGEX [--port N] [--confirm] [--certificate FILE] [MESSAGE.json...]");
  process.exit(2);
}
const validator = new MessageValidator(new RegExp(args["host-pattern"]));

// sns-validator fetches a certificate with https.get and reads the answer's "data" and "end"
// events; --certificate answers every such fetch with the file instead.
if (args.certificate !== undefined) {
  if (mode !== "verify") {
    console.error("--certificate is for verify only");
    process.exit(2);
  }
  const pem = fs.readFileSync(args.certificate, "utf8");
  const { PassThrough } = require("stream");
  https.get = (url, callback) => {
    const res = new PassThrough();
    res.statusCode = 200;
    process.nextTick(() => {
      callback(res);
      res.end(pem);
    });
    return { on: function () { return this; } };
  };
}

function validate(body) {
  return new Promise((resolve, reject) => {
    validator.validate(body, (err, message) => (err ? reject(err) : resolve(message)));
  });
}

function summary(m) {
  return { type: m.Type, messageId: m.MessageId, topicArn: m.TopicArn, signatureVersion: m.SignatureVersion, message: m.Message };
}

function visit(url) {
  return new Promise((resolve, reject) => {
    https.get(url, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString("utf8") }));
    }).on("error", reject);
  });
}

if (mode === "verify") {
  (async () => {
    for (const file of args._.slice(1)) {
      try {
        const m = await validate(fs.readFileSync(file, "utf8"));
        console.log(JSON.stringify(summary(m)));
      } catch (err) {
        console.error(file + ": not valid: " + err.message);
        process.exit(1);
      }
    }
  })();
} else {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      const line = { path: req.url, headerType: req.headers["x-amz-sns-message-type"] };
      try {
        const m = await validate(Buffer.concat(chunks).toString("utf8"));
        Object.assign(line, { valid: true }, summary(m));
        res.writeHead(200).end();
        if (m.Type === "SubscriptionConfirmation" && args.confirm) {
          line.confirmation = await visit(m.SubscribeURL);
        }
      } catch (err) {
        Object.assign(line, { valid: false, error: err.message });
        if (!res.headersSent) res.writeHead(400).end();
      }
      process.stdout.write(JSON.stringify(line) + "\n");
    });
  });
  server.listen(Number(args.port || 8091), "127.0.0.1", () => {
    console.error("iVvy (SNS) receiver on http://127.0.0.1:" + server.address().port);
  });
}
