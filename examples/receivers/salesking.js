#!/usr/bin/env node
// A SalesKing push-notification receiver that decodes and validates every signed_request the way
// SalesKing's Ruby SDK does (SK::SDK::SignedRequest in the sk_sdk gem), written independently of
// Switchyard's code, with Node's own crypto:
//
//   decode_payload: sign, payload = signed_request.split('.'); data = JSON.decode(base64_url_decode(payload))
//   base64_url_decode: tr('-_', '+/'), pad with '=' to a multiple of 4, Base64.decode64
//   valid?: false unless data['algorithm'].to_s.upcase == 'HMAC-SHA256';
//           sign == OpenSSL::HMAC.hexdigest('sha256', app_secret, payload)
//
// Beyond what the SDK checks, it reports whether the payload was sent in the canonical form
// SalesKing's signed_param makes (URL-safe alphabet, no padding, no newlines), under "canonical".
//
//   node salesking.js verify --secret APP_SECRET SIGNED_REQUEST
//       Prints {"valid", "canonical", "data"} and exits 1 unless valid.
//   node salesking.js serve --secret APP_SECRET | --secret-file FILE [--port 0]
//       Listens on 127.0.0.1; prints {"listening": PORT} first, then one JSON line per request:
//       {"valid", "canonical", "method", "path", "content_type", "fields", "data" | "error"}.
//       Answers 200 to a valid signed_request and 401 to anything else. --secret-file is read at
//       each request, so the receiver can start (and tell its port) before the app it serves exists.
"use strict";
const http = require("http");
const crypto = require("crypto");
const fs = require("fs");

function parseArgs(argv) {
  const args = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith("--")) args[argv[i].slice(2)] = argv[++i];
    else args._.push(argv[i]);
  }
  return args;
}

// Ruby's Base64.decode64 skips characters outside the alphabet; Node's base64 decoder does too.
function base64UrlDecode(str) {
  let s = str.replace(/-/g, "+").replace(/_/g, "/");
  while (s.length % 4 !== 0) s += "=";
  return Buffer.from(s, "base64").toString("utf8");
}

// Ruby's String#split drops trailing empty fields; only the first two fields are used.
function decode(signedRequest) {
  const parts = String(signedRequest).split(".");
  const sign = parts[0];
  const payload = parts[1];
  if (payload === undefined) throw new Error("no payload after the signature");
  const data = JSON.parse(base64UrlDecode(payload));
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new Error("the payload is not a JSON object");
  }
  return { sign, payload, data };
}

function valid(decoded, secret) {
  const alg = decoded.data.algorithm === undefined || decoded.data.algorithm === null ? "" : String(decoded.data.algorithm);
  if (alg.toUpperCase() !== "HMAC-SHA256") return false;
  const expected = Buffer.from(crypto.createHmac("sha256", secret).update(decoded.payload, "utf8").digest("hex"));
  // The SDK compares with ==; the same test in constant time, so a receiver copied from this one
  // does not tell an attacker, by its timing, how much of a forged signature is right.
  const got = Buffer.from(String(decoded.sign));
  return got.length === expected.length && crypto.timingSafeEqual(got, expected);
}

function canonical(signedRequest) {
  return /^[0-9a-f]{64}\.[A-Za-z0-9_-]+$/.test(signedRequest) && signedRequest.split(".")[1].length % 4 !== 1;
}

function check(signedRequest, secret) {
  const decoded = decode(signedRequest);
  return { valid: valid(decoded, secret), canonical: canonical(signedRequest), data: decoded.data };
}

const args = parseArgs(process.argv.slice(2));
const mode = args._[0];
if ((!args.secret && !(mode === "serve" && args["secret-file"])) || (mode !== "serve" && mode !== "verify")) {
  console.error("usage: salesking.js verify|serve --secret APP_SECRET | --secret-file FILE [--port N] [SIGNED_REQUEST]");
  process.exit(2);
}

function secret() {
  return args.secret !== undefined ? args.secret : fs.readFileSync(args["secret-file"], "utf8").trim();
}

if (mode === "verify") {
  try {
    const result = check(args._[1] || "", secret());
    console.log(JSON.stringify(result));
    process.exit(result.valid ? 0 : 1);
  } catch (err) {
    console.error("cannot decode: " + err.message);
    process.exit(1);
  }
} else {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const line = { method: req.method, path: req.url, content_type: req.headers["content-type"] || "" };
      try {
        // Rack reads a form body the way URLSearchParams does ('+' is a space, %XX decoded).
        const form = new URLSearchParams(body);
        line.fields = Array.from(form.keys());
        const signedRequest = form.get("signed_request");
        if (signedRequest === null) throw new Error("no signed_request parameter");
        Object.assign(line, check(signedRequest, secret()));
      } catch (err) {
        line.valid = false;
        line.error = err.message;
      }
      res.writeHead(line.valid ? 200 : 401, { "content-type": "text/plain" }).end(line.valid ? "ok" : "invalid");
      process.stdout.write(JSON.stringify(line) + "\n");
    });
  });
  server.listen(Number(args.port || 0), "127.0.0.1", () => {
    process.stdout.write(JSON.stringify({ listening: server.address().port }) + "\n");
  });
}
