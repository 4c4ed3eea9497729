// A Switchyard plugin in AssemblyScript, with the ABI implemented by hand (see sdk/codec.go and
// sdk/wire/frame.go for the contract): it turns each event into a chat message, the JSON an
// incoming-webhook endpoint of a chat service takes:
//
//   POST <subscription url>
//   content-type: application/json
//   x-switchyard-delivery: <delivery id>
//
//   {"text": "client.create: client 42 (account Acme)"}
//
// The ABI in brief. The host calls alloc(n) and writes the input there, then shape(ptr, n). The
// input is a frame: a 4-byte little-endian length, a JSON head of that length ({"event": {...},
// "subscription": {...}, "account": {...}, "delivery": {...}}), and the event's data as the rest.
// shape returns ptr<<32 | len of its result, a frame too: a JSON head {"method", "url", "path",
// "headers": [[name, value], ...]} and the body after it. Bit 31 of len flags the bytes as an error
// object {"message", "retryable"} instead. manifest() returns the manifest's JSON the same way.
//
// The module imports nothing: AssemblyScript's default abort import (env.abort), which the host
// refuses, is replaced by the function below (asc --use abort=assembly/index/abort).

const ABI_VERSION: i32 = 1;

const MANIFEST = `{"name":"chat","version":"1.0.0","abi":1,` +
  `"description":"A chat message per event (AssemblyScript, ABI by hand)",` +
  `"events":[{"type":"*"}],` +
  `"sample_event":{"type":"client.create","entity":{"type":"client","id":"42"},"data":{"id":42,"name":"Acme GmbH"}}}`;

// A trap: the host drops the instance and records the failure.
function abort(message: usize, fileName: usize, line: u32, column: u32): void {
  unreachable();
}

// The input buffer, reused from call to call, and the last result, kept reachable until the host
// has copied it (it does so before the next call).
let inPtr: usize = 0;
let inCap: i32 = 0;
let result: ArrayBuffer = new ArrayBuffer(0);

export function abi_version(): i32 {
  return ABI_VERSION;
}

export function alloc(n: i32): i32 {
  if (n > inCap) {
    if (inPtr != 0) heap.free(inPtr);
    inCap = max(n, 2 * inCap);
    inPtr = heap.alloc(<usize>inCap);
  }
  return <i32>inPtr;
}

function pack(buf: ArrayBuffer, isError: bool): i64 {
  result = buf;
  let len = <u64>buf.byteLength;
  if (isError) len |= 0x80000000;
  return <i64>((<u64>changetype<usize>(buf) << 32) | len);
}

export function manifest(): i64 {
  return pack(String.UTF8.encode(MANIFEST), false);
}

// What shape reads from the head, by path.
let eventType = "";
let entityType = "";
let entityId = "";
let accountName = "";
let deliveryId = "";

export function shape(ptr: i32, n: i32): i64 {
  eventType = entityType = entityId = accountName = deliveryId = "";
  if (n < 4) return fail("input shorter than a frame");
  const headLen = <i32>load<u32>(<usize>ptr);
  if (headLen > n - 4) return fail("frame head runs past the input");
  if (!parse(<usize>ptr + 4, headLen)) return fail("malformed input head at byte " + pos.toString());
  if (eventType == "") return fail("the event has no type");

  let text = eventType;
  if (entityType != "" || entityId != "") text += ": " + entityType + " " + entityId;
  if (accountName != "") text += " (account " + accountName + ")";

  const head = `{"method":"POST","headers":[["content-type","application/json"],` +
    `["x-switchyard-delivery",` + quote(deliveryId) + `]]}`;
  const body = `{"text":` + quote(text) + `}`;
  return pack(frame(String.UTF8.encode(head), String.UTF8.encode(body)), false);
}

function fail(message: string): i64 {
  return pack(String.UTF8.encode(`{"message":` + quote(message) + `,"retryable":false}`), true);
}

// frame joins a head and a payload as the ABI frames them.
function frame(head: ArrayBuffer, payload: ArrayBuffer): ArrayBuffer {
  const out = new ArrayBuffer(4 + head.byteLength + payload.byteLength);
  const base = changetype<usize>(out);
  store<u32>(base, <u32>head.byteLength);
  memory.copy(base + 4, changetype<usize>(head), <usize>head.byteLength);
  memory.copy(base + 4 + <usize>head.byteLength, changetype<usize>(payload), <usize>payload.byteLength);
  return out;
}

// quote returns s as a JSON string.
function quote(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 0x22) out += '\\"';
    else if (c == 0x5c) out += "\\\\";
    else if (c < 0x20) out += "\\u00" + (c < 0x10 ? "0" : "") + c.toString(16);
    else out += String.fromCharCode(c);
  }
  return out + '"';
}

// A small JSON reader over the head's bytes: it walks every value and records the strings at the
// paths shape uses. Unknown keys are skipped, as the ABI asks, so the host may add fields.
let base: usize = 0;
let pos: i32 = 0;
let end: i32 = 0;
let ok = true;

function parse(start: usize, len: i32): bool {
  base = start;
  pos = 0;
  end = len;
  ok = true;
  value("");
  ws();
  return ok && pos == end;
}

function peek(): u8 {
  return pos < end ? load<u8>(base + <usize>pos) : 0;
}

function ws(): void {
  while (pos < end) {
    const c = peek();
    if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) break;
    pos++;
  }
}

function expect(c: u8): void {
  ws();
  if (peek() != c) ok = false;
  else pos++;
}

function value(path: string): void {
  ws();
  if (!ok || pos >= end) {
    ok = false;
    return;
  }
  const c = peek();
  if (c == 0x7b) { // {
    pos++;
    ws();
    if (peek() == 0x7d) { pos++; return; }
    while (ok) {
      ws();
      const key = str();
      expect(0x3a); // :
      value(path == "" ? key : path + "." + key);
      ws();
      if (peek() == 0x2c) { pos++; continue; }
      expect(0x7d);
      return;
    }
  } else if (c == 0x5b) { // [
    pos++;
    ws();
    if (peek() == 0x5d) { pos++; return; }
    while (ok) {
      value(path + "[]");
      ws();
      if (peek() == 0x2c) { pos++; continue; }
      expect(0x5d);
      return;
    }
  } else if (c == 0x22) {
    record(path, str());
  } else {
    // A number, true, false or null: none of them is read.
    while (pos < end) {
      const d = peek();
      if (d == 0x2c || d == 0x7d || d == 0x5d || d == 0x20 || d == 0x0a || d == 0x0d || d == 0x09) break;
      pos++;
    }
  }
}

function record(path: string, s: string): void {
  if (path == "event.type") eventType = s;
  else if (path == "event.entity.type") entityType = s;
  else if (path == "event.entity.id") entityId = s;
  else if (path == "account.name") accountName = s;
  else if (path == "delivery.id") deliveryId = s;
}

// str reads a JSON string, decoding escapes and UTF-8.
function str(): string {
  if (peek() != 0x22) {
    ok = false;
    return "";
  }
  pos++;
  let out = "";
  let run = pos;
  while (pos < end) {
    const c = peek();
    if (c == 0x22) {
      out += String.UTF8.decodeUnsafe(base + <usize>run, <usize>(pos - run));
      pos++;
      return out;
    }
    if (c != 0x5c) {
      pos++;
      continue;
    }
    out += String.UTF8.decodeUnsafe(base + <usize>run, <usize>(pos - run));
    pos++;
    const e = peek();
    pos++;
    if (e == 0x6e) out += "\n";
    else if (e == 0x74) out += "\t";
    else if (e == 0x72) out += "\r";
    else if (e == 0x62) out += "\b";
    else if (e == 0x66) out += "\f";
    else if (e == 0x75) { // \uXXXX: UTF-16 code units, surrogate pairs included, as JSON has them
      if (pos + 4 > end) { ok = false; return ""; }
      out += String.fromCharCode(<i32>parseInt(String.UTF8.decodeUnsafe(base + <usize>pos, 4), 16));
      pos += 4;
    } else out += String.fromCharCode(e); // \" \\ \/
    run = pos;
  }
  ok = false;
  return "";
}
