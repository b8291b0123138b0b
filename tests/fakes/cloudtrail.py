#!/usr/bin/env python3
"""A CloudTrail fake for relrun's tests: LookupEvents, the one operation
`scripts/audit.lua` uses (JSON 1.1 protocol, X-Amz-Target
com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents; shapes
and error types from botocore's cloudtrail 2013-11-01 model). moto 5.2.1 has
no LookupEvents, hence this fake; tests/integration/cloudtrail_fake_spec.lua
checks it against the aws cli v1 and v2 and botocore.

    python3 tests/fakes/cloudtrail.py --port-file FILE [--events FILE.json ...]
        [--credentials AKID:SECRET ...] [--region us-east-1]

The events are CloudTrail records, as CloudTrail writes them to S3 and
returns them (as a JSON string) in an event's CloudTrailEvent: eventTime,
eventSource, eventName, userIdentity, sourceIPAddress, userAgent,
requestParameters, responseElements, eventID, readOnly, resources... The
summary fields of a LookupEvents answer (EventId, EventName, Username,
AccessKeyId, EventTime, Resources...) are derived from the record as
CloudTrail derives them. A record's eventTime may also be "-3600" (seconds
before now), so a spec can seed a window relative to the clock.

With --credentials every request must carry a SigV4 signature from one of
those keys, checked with botocore's own SigV4Auth.

Test controls (never part of the real service):
  POST /__events  [record, ...]   add records
  POST /__reset                   forget every record, fault and count
  POST /__fault {"kind": "status" | "denied" | "garbage" | "throttle", "times": 1, "status": 500}
  GET  /__stats                   {"requests": n, "attributes": [[key, value] or null, ...]}
"""
import argparse
import base64
import datetime
import hashlib
import json
import os
import re
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore_signature

TARGET_PREFIX = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."
ERROR_PREFIX = "com.amazonaws.cloudtrail.v20131101#"
ATTRIBUTE_KEYS = ("EventId", "EventName", "ReadOnly", "Username", "ResourceType", "ResourceName",
                  "EventSource", "AccessKeyId")
MAX_SKEW = 300


class ApiError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(v):
    """A record's eventTime -> epoch seconds ("-3600" is relative to now)."""
    if isinstance(v, (int, float)):
        return float(v)
    if re.match(r"^-\d+$", v):
        return float(int(time.time()) + int(v))   # whole seconds, as CloudTrail records them
    return datetime.datetime.strptime(v, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def username(ident):
    """The Username CloudTrail shows for a userIdentity."""
    kind = ident.get("type")
    if kind == "Root":
        return "root"
    if kind == "IAMUser":
        return ident.get("userName")
    if kind == "AssumedRole":
        return ident.get("arn", "").rsplit("/", 1)[-1]   # the role session name
    return ident.get("userName") or ident.get("principalId")


def summarize(record):
    """A record -> the Event shape of a LookupEvents answer."""
    ident = record.get("userIdentity") or {}
    event = {
        "EventId": record["eventID"],
        "EventName": record["eventName"],
        "ReadOnly": "true" if record.get("readOnly") else "false",
        "EventTime": record["_time"],
        "EventSource": record["eventSource"],
        "Resources": [{"ResourceType": r.get("type"), "ResourceName": r.get("ARN")}
                      for r in record.get("resources") or []],
        "CloudTrailEvent": json.dumps({k: v for k, v in record.items() if k != "_time"}),
    }
    if ident.get("accessKeyId"):
        event["AccessKeyId"] = ident["accessKeyId"]
    name = username(ident)
    if name:
        event["Username"] = name
    return event


def matches(record, attribute):
    if attribute is None:
        return True
    key, value = attribute["AttributeKey"], attribute["AttributeValue"]
    ev = summarize(record)
    if key in ("ResourceType", "ResourceName"):
        return any(r.get(key) == value for r in ev["Resources"])
    return ev.get(key) == value


class State:
    def __init__(self):
        self.lock = threading.RLock()
        self.reset()

    def reset(self):
        with self.lock:
            self.records, self.faults, self.requests, self.attributes = [], [], 0, []

    def add(self, records):
        with self.lock:
            for r in records:
                r = dict(r)
                r.setdefault("eventID", secrets.token_hex(16))
                r["_time"] = parse_time(r["eventTime"])
                r["eventTime"] = iso(r["_time"])
                self.records.append(r)
            self.records.sort(key=lambda r: r["_time"], reverse=True)   # newest first, as CloudTrail answers

    def take_fault(self):
        with self.lock:
            if not self.faults:
                return None
            f = self.faults[0]
            f["times"] -= 1
            if f["times"] <= 0:
                self.faults.pop(0)
            return f


def page_token(params, offset):
    """An opaque NextToken bound to the request's other parameters."""
    bound = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    return base64.b64encode(json.dumps({"o": offset, "b": bound}).encode()).decode()


def offset_of(token, params):
    try:
        doc = json.loads(base64.b64decode(token, validate=True))
        offset, bound = int(doc["o"]), doc["b"]
    except (ValueError, KeyError, TypeError):
        raise ApiError(400, "InvalidNextTokenException", "Invalid NextToken")
    if page_token(params, offset) != token or not bound:
        raise ApiError(400, "InvalidNextTokenException",
                       "The NextToken was issued for a request with other parameters")
    return offset


def lookup(state, doc):
    attrs = doc.get("LookupAttributes") or []
    if len(attrs) > 1:
        raise ApiError(400, "InvalidLookupAttributesException", "You can specify only one lookup attribute.")
    for a in attrs:
        if a.get("AttributeKey") not in ATTRIBUTE_KEYS or not isinstance(a.get("AttributeValue"), str):
            raise ApiError(400, "InvalidLookupAttributesException",
                           "Invalid lookup attribute: %s" % a.get("AttributeKey"))
    start, end = doc.get("StartTime"), doc.get("EndTime")
    if start is not None and end is not None and float(start) > float(end):
        raise ApiError(400, "InvalidTimeRangeException", "Start time must be before end time.")
    limit = doc.get("MaxResults", 50)
    if not isinstance(limit, int) or not 1 <= limit <= 50:
        raise ApiError(400, "InvalidMaxResultsException", "MaxResults must be between 1 and 50.")
    params = {k: v for k, v in doc.items() if k not in ("NextToken",)}
    offset = offset_of(doc["NextToken"], params) if doc.get("NextToken") else 0
    attribute = attrs[0] if attrs else None
    with state.lock:
        state.requests += 1
        state.attributes.append([attribute["AttributeKey"], attribute["AttributeValue"]] if attribute else None)
        found = [r for r in state.records
                 if (start is None or r["_time"] >= float(start)) and (end is None or r["_time"] <= float(end))
                 and matches(r, attribute)]
    out = {"Events": [summarize(r) for r in found[offset:offset + limit]]}
    if offset + limit < len(found):
        out["NextToken"] = page_token(params, offset + limit)
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "cloudtrail-fake"

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.log_date_time_string(), fmt % args))

    def send(self, status, body, ctype="application/x-amz-json-1.1"):
        body = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", secrets.token_hex(16))
        self.end_headers()
        self.wfile.write(body)

    def send_error_doc(self, err):
        self.send(err.status, json.dumps({"__type": ERROR_PREFIX + err.code, "message": err.message}))

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def dispatch(self):
        body = self.read_body()
        try:
            if self.path.startswith("/__"):
                return self.control(body)
            fault = self.server.state.take_fault()
            if fault:
                return self.apply_fault(fault)
            target = self.headers.get("X-Amz-Target", "")
            if self.command != "POST" or self.path != "/" or target != TARGET_PREFIX + "LookupEvents":
                raise ApiError(400, "UnknownOperationException", "Unknown operation %s" % (target or self.path))
            self.check_signature(body)
            doc = json.loads(body) if body.strip() else {}
            self.send(200, json.dumps(lookup(self.server.state, doc)))
        except ApiError as e:
            self.send_error_doc(e)
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError, TypeError) as e:
            self.send_error_doc(ApiError(400, "SerializationException", "bad request body: %s" % e))

    def apply_fault(self, fault):
        kind = fault["kind"]
        if kind == "denied":
            self.send_error_doc(ApiError(400, "AccessDeniedException", "User: arn:aws:iam::111122223333:user/x is "
                                         "not authorized to perform: cloudtrail:LookupEvents"))
        elif kind == "throttle":
            self.send_error_doc(ApiError(400, "ThrottlingException", "Rate exceeded"))
        elif kind == "garbage":
            self.send(200, "<html><body>502 Bad Gateway (proxy)</body></html>", ctype="text/html")
        else:
            self.send_error_doc(ApiError(int(fault.get("status", 500)), "InternalFailure", "fault injected"))

    def control(self, body):
        st = self.server.state
        doc = json.loads(body) if body.strip() else None
        if self.path == "/__events" and self.command == "POST":
            st.add(doc)
        elif self.path == "/__reset":
            st.reset()
        elif self.path == "/__fault":
            doc.setdefault("times", 1)
            with st.lock:
                st.faults.append(doc)
        elif self.path == "/__stats":
            with st.lock:
                return self.send(200, json.dumps({"requests": st.requests, "attributes": st.attributes}))
        else:
            return self.send(404, "no control %s" % self.path, ctype="text/plain")
        self.send(200, json.dumps({"ok": True}))

    def check_signature(self, body):
        keys = self.server.keys
        if keys is None:
            return
        auth = self.headers.get("Authorization", "")
        m = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                     r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$", auth)
        if not m:
            raise ApiError(400, "MissingAuthenticationTokenException", "Missing Authentication Token")
        akid, day, region, service, signed, signature = m.groups()
        if akid not in keys:
            raise ApiError(400, "UnrecognizedClientException", "The security token included in the request is invalid.")
        amz_date = self.headers.get("X-Amz-Date", "")
        try:
            when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            raise ApiError(400, "IncompleteSignatureException", "X-Amz-Date missing or malformed")
        if abs(when.timestamp() - time.time()) > MAX_SKEW:
            raise ApiError(400, "InvalidSignatureException", "Signature expired: %s" % amz_date)
        if service != "cloudtrail" or region != self.server.region or day != amz_date[:8]:
            raise ApiError(400, "InvalidSignatureException",
                           "Credential should be scoped to a valid region/service: %s/%s" % (region, service))
        expected, missing = botocore_signature.expected(self, body, signed, amz_date, (akid, keys[akid], None),
                                                        service, region)
        if missing:
            raise ApiError(400, "InvalidSignatureException", "signed header %s is missing" % missing)
        if expected != signature:
            raise ApiError(400, "InvalidSignatureException",
                           "The request signature we calculated does not match the signature you provided.")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--events", action="append", default=[], help="a JSON file: a list of CloudTrail records")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--credentials", action="append", default=None,
                    help="AKID:SECRET; signatures are checked when given")
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.state = State()
    server.region = args.region
    server.keys = None
    if args.credentials:
        server.keys = dict(c.split(":", 1) for c in args.credentials)
    for path in args.events:
        with open(path) as f:
            server.state.add(json.load(f))
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, args.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
