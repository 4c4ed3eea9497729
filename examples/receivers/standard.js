#!/usr/bin/env node
// A Standard Webhooks receiver that verifies every delivery with the reference `standardwebhooks`
// library, not with any of Switchyard's code.
//
//   node standard.js serve --secret whsec_... [--port 8090]
//       Listens on 127.0.0.1, answers 204 to each verified request and 401 to the rest, and prints
//       one JSON line per request: {"verified", "id", "payload" | "error"}.
//   node standard.js verify --secret whsec_... [--now UNIX_SECONDS] REQUEST.json
//       Verifies one request saved as {"headers": {...}, "body": "..."} and prints the payload;
//       exits 1 if it does not verify. --now sets the clock the library checks webhook-timestamp
//       against (its tolerance is 5 minutes), so a request saved long ago, a golden file, still
//       verifies; the library's own code does everything else.
"use strict";
const http = require("http");
const fs = require("fs");
const { Webhook } = require("standardwebhooks");

function parseArgs(argv) {
  const args = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith("--")) args[argv[i].slice(2)] = argv[++i];
    else args._.push(argv[i]);
  }
  return args;
}

function verify(secret, headers, body) {
  return new Webhook(secret).verify(body, headers);
}

const args = parseArgs(process.argv.slice(2));
const mode = args._[0];
if (!args.secret || (mode !== "serve" && mode !== "verify")) {
  console.error("usage: standard.js serve|verify --secret whsec_... [--port N] [--now UNIX_SECONDS] [REQUEST.json]");
  process.exit(2);
}

if (mode === "verify") {
  if (args.now !== undefined) {
    const now = Number(args.now) * 1000;
    if (!Number.isFinite(now)) {
      console.error("--now wants seconds since the epoch, got " + JSON.stringify(args.now));
      process.exit(2);
    }
    Date.now = () => now;
  }
  const req = JSON.parse(fs.readFileSync(args._[1], "utf8"));
  try {
    console.log(JSON.stringify(verify(args.secret, req.headers, req.body)));
  } catch (err) {
    console.error("not verified: " + err.message);
    process.exit(1);
  }
} else {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      let line;
      try {
        line = { verified: true, id: req.headers["webhook-id"], payload: verify(args.secret, req.headers, body) };
        res.writeHead(204).end();
      } catch (err) {
        line = { verified: false, id: req.headers["webhook-id"], error: err.message };
        res.writeHead(401).end();
      }
      process.stdout.write(JSON.stringify(line) + "\n");
    });
  });
  server.listen(Number(args.port || 8090), "127.0.0.1", () => {
    console.error("standard webhooks receiver on http://127.0.0.1:" + server.address().port);
  });
}
