#!/usr/bin/env python3
"""An Altoviz webhook receiver that checks X-SIGNATURE with Python's own hmac module, not with any of
Switchyard's code: what an integrator's receiver written from the vendor's document does.

  python3 altoviz.py serve [--secret KEY] [--port N]
      Listens on 127.0.0.1 (--port 0 picks a free port), and first prints {"listening": PORT}.
      With --secret, answers 200 to each call whose X-SIGNATURE is the lowercase hex HMAC-SHA256
      of the exact body bytes keyed with KEY, and 401 to the rest; without it, answers 200 to each
      call that carries no signature, and 401 to one that does. While the webhook's key is being
      rotated, a receiver still holding the old KEY finds its signature in X-SIGNATURE-PREVIOUS, and
      accepts the call by that header. Prints one JSON line per call: {"verified", "verified_by",
      "signature", "previous_signature", "id", "id_is_string", "delivery_id", "type", "data", "body", "path",
      "content_type", "error"}: "id" is the webhook id the call names (the document shows "id": "1233", a
      string), "delivery_id" the X-DELIVERY-ID header, the same on every retry, to drop duplicates by.
  python3 altoviz.py verify --secret KEY --signature HEX BODYFILE
      Prints the body's type and exits 0 when HEX signs the file's bytes under KEY; exits 1 if not.
"""
import argparse
import hashlib
import hmac
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def expected_signature(secret, body):
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def check(secret, signature, body, previous=None):
    """Returns the header that verified the call (None without a secret key) and an error message,
    None when the call is what it should be."""
    if secret is None:
        return None, None if signature is None else "a signature arrived for a webhook without a secret key"
    if signature is None:
        return None, "no X-SIGNATURE header"
    expected = expected_signature(secret, body)
    if hmac.compare_digest(expected, signature):
        return "X-SIGNATURE", None
    # The key this receiver holds may be the one being rotated out.
    if previous is not None and hmac.compare_digest(expected, previous):
        return "X-SIGNATURE-PREVIOUS", None
    return None, "X-SIGNATURE does not match the body"


def serve(secret, port):
    lock_out = sys.stdout

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            signature = self.headers.get("X-SIGNATURE")
            previous = self.headers.get("X-SIGNATURE-PREVIOUS")
            verified_by, error = check(secret, signature, body, previous)
            line = {"verified": error is None, "verified_by": verified_by, "signature": signature,
                    "previous_signature": previous, "path": self.path,
                    "delivery_id": self.headers.get("X-DELIVERY-ID"),
                    "content_type": self.headers.get("Content-Type"), "body": body.decode("utf-8")}
            try:
                payload = json.loads(body)
                line.update(id=payload.get("id"), id_is_string=isinstance(payload.get("id"), str),
                            type=payload.get("type"), data=payload.get("data"))
            except ValueError as exc:
                error = error or "body is not JSON: %s" % exc
                line["verified"] = False
            if error:
                line["error"] = error
            self.send_response(200 if error is None else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            lock_out.write(json.dumps(line) + "\n")
            lock_out.flush()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(json.dumps({"listening": server.server_address[1]}), flush=True)
    server.serve_forever()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["serve", "verify"])
    parser.add_argument("--secret")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--signature")
    parser.add_argument("bodyfile", nargs="?")
    args = parser.parse_intermixed_args()
    if args.mode == "serve":
        serve(args.secret, args.port)
        return
    if args.secret is None or args.bodyfile is None:
        parser.error("verify needs --secret and BODYFILE")
    with open(args.bodyfile, "rb") as f:
        body = f.read()
    _, error = check(args.secret, args.signature, body)
    if error:
        print("not verified: " + error, file=sys.stderr)
        sys.exit(1)
    print(json.loads(body).get("type"))


if __name__ == "__main__":
    main()
