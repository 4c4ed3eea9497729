#!/usr/bin/env node
// Checks an Upsales app request the way an app written against Upsales reads one, with nothing but
// Node itself (Upsales publishes no client library for its app requests): the trigger path, the
// shared authenticationKey, and the body's fields and their types.
//
//   node upsales.js verify --key APP_KEY REQUEST.json
//       REQUEST.json is {"method", "path", "headers": {...}, "body": "..."}. Prints what an app
//       would take from the request as one JSON line; exits 1, saying why, when an app would
//       refuse it. With --numeric-ids yes, appId and customer.id must be numbers, as Upsales' are
//       (an app that stores them in integer columns).
"use strict";
const fs = require("fs");
const crypto = require("crypto");

const OBJECTS = ["client", "contact", "order", "agreement", "activity", "appointment"];
const ACTIONS = ["insert", "update", "delete"];

function parseArgs(argv) {
  const args = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith("--")) args[argv[i].slice(2)] = argv[++i];
    else args._.push(argv[i]);
  }
  return args;
}

function fail(msg) {
  console.error("refused: " + msg);
  process.exit(1);
}

function isPlainObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

const args = parseArgs(process.argv.slice(2));
if (args._[0] !== "verify" || !args.key || !args._[1]) {
  console.error("usage: upsales.js verify --key APP_KEY REQUEST.json");
  process.exit(2);
}
const req = JSON.parse(fs.readFileSync(args._[1], "utf8"));
if (req.method !== "POST") fail("method " + req.method);
const m = /^\/([a-z]+?)(insert|update|delete)\/([^/?#]+)$/.exec(req.path);
if (!m || !OBJECTS.includes(m[1]) || !ACTIONS.includes(m[2])) fail("path " + req.path + " is not /{object}{action}/{id}");
const contentType = (req.headers["content-type"] || "").split(";")[0].trim();
if (contentType !== "application/json") fail("content-type " + contentType);

let body;
try {
  body = JSON.parse(req.body);
} catch (err) {
  fail("body is not JSON: " + err.message);
}
// An app compares the key in constant time, as it would a password.
const got = Buffer.from(String(body.authenticationKey));
const want = Buffer.from(args.key);
if (got.length !== want.length || !crypto.timingSafeEqual(got, want)) fail("authenticationKey does not match");
if (typeof body.appId !== "string" && typeof body.appId !== "number") fail("appId");
if (args["numeric-ids"] === "yes") {
  if (!Number.isSafeInteger(body.appId)) fail("appId is not an integer: " + JSON.stringify(body.appId));
  if (!isPlainObject(body.customer) || !Number.isSafeInteger(body.customer.id)) fail("customer.id is not an integer");
}
if (typeof body.date !== "string" || !/Z$/.test(body.date) || isNaN(Date.parse(body.date))) fail("date is not a UTC time: " + body.date);
if (!isPlainObject(body.customer) || body.customer.id === undefined || typeof body.customer.name !== "string") fail("customer");
if (body.user !== undefined && (!isPlainObject(body.user) || body.user.id === undefined)) fail("user");
if (!isPlainObject(body.appData)) fail("appData is not an object");
if (body.userAppData !== undefined && !isPlainObject(body.userAppData)) fail("userAppData is not an object");
if (!isPlainObject(body.data) || !("object" in body.data)) fail("data.object is missing");
if (body.callbackUrl !== undefined && !/^https?:\/\//.test(new URL(body.callbackUrl).href)) fail("callbackUrl");

console.log(JSON.stringify({
  object: m[1], action: m[2], id: decodeURIComponent(m[3]), appId: body.appId,
  customer: body.customer, user: body.user, appData: body.appData, userAppData: body.userAppData,
  entity: body.data.object, callbackUrl: body.callbackUrl, date: new Date(body.date).toISOString(),
}));
