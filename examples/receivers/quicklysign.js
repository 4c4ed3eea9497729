#!/usr/bin/env node
// Checks QuicklySign subscription callbacks against QuicklySign's published description of them,
// independently of Switchyard's code: a POST with Content-Type application/json whose raw JSON
// body is exactly {"subscription_key" (or, for v1 webhooks, "webhook_key"), "entity_key",
// "entity_type", "callback_event"}, all strings, the event one of QuicklySign's three constants.
//
//   node quicklysign.js check REQUEST.json...
//       Checks requests saved as {"method", "headers": {...}, "body": "..."} and prints each body,
//       parsed, one JSON line per request; exits 1 at the first that does not conform.
"use strict";
const fs = require("fs");

const EVENTS = ["entity_updated", "document_status_changed", "final_document_generated"];

function check(req) {
  if (req.method !== "POST") throw new Error("method " + req.method + ", want POST");
  const headers = {};
  for (const [k, v] of Object.entries(req.headers || {})) headers[k.toLowerCase()] = v;
  const type = (headers["content-type"] || "").split(";")[0].trim().toLowerCase();
  if (type !== "application/json") throw new Error("content-type " + JSON.stringify(headers["content-type"]) + ", want application/json");
  const body = JSON.parse(req.body);
  if (body === null || typeof body !== "object" || Array.isArray(body)) throw new Error("the body is not a JSON object");
  const keys = Object.keys(body).sort();
  const keyName = "webhook_key" in body ? "webhook_key" : "subscription_key";
  const want = [keyName, "entity_key", "entity_type", "callback_event"].sort();
  if (JSON.stringify(keys) !== JSON.stringify(want)) throw new Error("keys " + keys.join(",") + ", want " + want.join(","));
  for (const k of want) {
    if (typeof body[k] !== "string" || body[k] === "") throw new Error(k + " is not a non-empty string");
  }
  if (body.entity_type !== "Document") throw new Error("entity_type " + body.entity_type + ", want Document");
  if (!EVENTS.includes(body.callback_event)) throw new Error("callback_event " + body.callback_event + " is not one of " + EVENTS.join(", "));
  return body;
}

const [mode, ...files] = process.argv.slice(2);
if (mode !== "check" || files.length === 0) {
  console.error("usage: quicklysign.js check REQUEST.json...");
  process.exit(2);
}
for (const file of files) {
  try {
    const body = check(JSON.parse(fs.readFileSync(file, "utf8")));
    process.stdout.write(JSON.stringify(body) + "\n");
  } catch (err) {
    console.error(file + ": not a QuicklySign callback: " + err.message);
    process.exit(1);
  }
}
