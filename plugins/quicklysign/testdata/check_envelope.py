#!/usr/bin/env python3
"""Checks a golden answer of Switchyard's QuicklySign-compatible API against QuicklySign's published
subscription document, with Python's standard library only: no Switchyard code is used.

  python3 check_envelope.py [--entity-key KEY] GOLDEN...

Each GOLDEN is "HTTP <status>\\n<JSON body>". Its kind comes from its file name: subscription_*
(a v0 subscription), webhook_* (a v1 webhook), list_v0* / list_v1* (a list), callbacks* (a callback
log) or error* (an error). --entity-key is the entity_key a list was asked for. Prints one line per
file and exits 1 at the first that does not conform, saying why.

What QuicklySign's document shows, and so what is checked:
  - an answer is {"status": {"status_code": 200}, "data": {...}}, with 200 also the HTTP status;
  - a subscription (the Create Subscription response) has exactly entity_key, date_updated,
    subscriber_key, callback, key and date_created: entity_key, callback and key strings,
    subscriber_key null, the dates epoch milliseconds;
  - a list answers "all your subscriptions for that entity": each has the entity_key asked for;
  - a callback_event is one of entity_updated, document_status_changed, final_document_generated.
What the document does not show, and is checked as Switchyard's QuicklySign API documents it:
  - v1 webhooks: a subscription's fields plus webhook_key, equal to key, under "webhook"/"webhooks";
  - errors: {"status": {"status_code": N, "errors": [{"code", "message"}]}}, no data, N the HTTP
    status and not 200;
  - callback logs: data.callbacks is a list; of each entry only key, entity_key (strings) and
    callback_event are checked.
"""
import json
import os
import re
import sys

EVENTS = {"entity_updated", "document_status_changed", "final_document_generated"}
SUBSCRIPTION_KEYS = {"entity_key", "date_updated", "subscriber_key", "callback", "key", "date_created"}


class Refused(Exception):
    pass


def require(cond, msg):
    if not cond:
        raise Refused(msg)


def is_str(v):
    return isinstance(v, str) and v != ""


def is_millis(v):
    # The document's example is 1401645889795: epoch milliseconds, 13 digits until the year 2286.
    return type(v) is int and 10**12 <= v < 10**13


def check_subscription(s, v1, where):
    require(isinstance(s, dict), where + " is not an object")
    want = SUBSCRIPTION_KEYS | ({"webhook_key"} if v1 else set())
    require(set(s) == want, "%s has keys %s, want %s" % (where, sorted(s), sorted(want)))
    for k in ("entity_key", "callback", "key"):
        require(is_str(s[k]), "%s.%s is %r, want a string" % (where, k, s[k]))
    require(s["subscriber_key"] is None, "%s.subscriber_key is %r, want null" % (where, s["subscriber_key"]))
    for k in ("date_updated", "date_created"):
        require(is_millis(s[k]), "%s.%s is %r, want epoch milliseconds" % (where, k, s[k]))
    if v1:
        require(s["webhook_key"] == s["key"], "%s.webhook_key %r is not its key %r" % (where, s["webhook_key"], s["key"]))


def check(path, entity_key):
    name = os.path.basename(path)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    first, _, body = text.partition("\n")
    m = re.fullmatch(r"HTTP ([0-9]{3})", first)
    require(m, "first line %r is not HTTP <status>" % first)
    http_status = int(m.group(1))
    doc = json.loads(body)
    require(isinstance(doc, dict), "the body is not a JSON object")
    status = doc.get("status")
    require(isinstance(status, dict), "no status object")
    require(type(status.get("status_code")) is int and status["status_code"] == http_status,
            "status.status_code %r is not the HTTP status %d" % (status.get("status_code"), http_status))

    if name.startswith("error"):
        require(http_status != 200, "an error answered HTTP 200")
        require(set(doc) == {"status"}, "an error has keys %s, want status only" % sorted(doc))
        require(set(status) == {"status_code", "errors"}, "an error's status has keys %s" % sorted(status))
        errors = status["errors"]
        require(isinstance(errors, list) and errors, "status.errors is not a non-empty list")
        for i, e in enumerate(errors):
            require(isinstance(e, dict) and set(e) == {"code", "message"} and is_str(e["code"]) and is_str(e["message"]),
                    "status.errors[%d] is %r, want {code, message} strings" % (i, e))
        return "error %d %s" % (http_status, errors[0]["code"])

    require(http_status == 200, "HTTP %d, want 200" % http_status)
    require(set(doc) == {"status", "data"}, "keys %s, want status and data" % sorted(doc))
    require(set(status) == {"status_code"}, "status has keys %s, want status_code only" % sorted(status))
    data = doc["data"]
    require(isinstance(data, dict), "data is not an object")

    if name.startswith("subscription") or name.startswith("webhook"):
        v1 = name.startswith("webhook")
        obj = "webhook" if v1 else "subscription"
        require(set(data) == {obj}, "data has keys %s, want %s" % (sorted(data), obj))
        check_subscription(data[obj], v1, "data." + obj)
        return obj
    if name.startswith("list"):
        v1 = name.startswith("list_v1")
        plural = "webhooks" if v1 else "subscriptions"
        require(set(data) == {plural}, "data has keys %s, want %s" % (sorted(data), plural))
        items = data[plural]
        require(isinstance(items, list) and items, "data.%s is not a non-empty list" % plural)
        for i, s in enumerate(items):
            where = "data.%s[%d]" % (plural, i)
            check_subscription(s, v1, where)
            if entity_key is not None:
                require(s["entity_key"] == entity_key, "%s is for entity %r, not the one asked for" % (where, s["entity_key"]))
        return "%d %s" % (len(items), plural)
    if name.startswith("callbacks"):
        require(set(data) == {"callbacks"}, "data has keys %s, want callbacks" % sorted(data))
        items = data["callbacks"]
        require(isinstance(items, list), "data.callbacks is not a list")
        for i, c in enumerate(items):
            where = "data.callbacks[%d]" % i
            require(isinstance(c, dict), where + " is not an object")
            for k in ("key", "entity_key"):
                require(is_str(c.get(k)), "%s.%s is %r, want a string" % (where, k, c.get(k)))
            require(c.get("callback_event") in EVENTS, "%s.callback_event %r is not one of %s" % (where, c.get("callback_event"), sorted(EVENTS)))
        return "%d callbacks" % len(items)
    raise Refused("no kind of answer is named by the file name " + name)


def main(argv):
    entity_key = None
    files = []
    i = 0
    while i < len(argv):
        if argv[i] == "--entity-key" and i + 1 < len(argv):
            entity_key = argv[i + 1]
            i += 2
        else:
            files.append(argv[i])
            i += 1
    if not files:
        print("usage: check_envelope.py [--entity-key KEY] GOLDEN...", file=sys.stderr)
        return 2
    for path in files:
        try:
            print("%s: %s" % (path, check(path, entity_key)))
        except (Refused, ValueError, KeyError) as e:
            print("%s: not what QuicklySign's document describes: %s" % (path, e), file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
