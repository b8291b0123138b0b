#!/usr/bin/env python3
"""A CodeArtifact fake for relrun's tests: the control-plane operations relrun
uses (rest-json, shapes and error types from botocore's codeartifact
2018-09-22 model) and the repository's PyPI endpoint (legacy upload, PEP 503
and PEP 691 simple index, downloads).

    python3 tests/fakes/codeartifact.py --port-file FILE \
        [--credentials AKID:SECRET ...] [--account 111122223333] [--region us-east-1]

With --credentials every control-plane request must carry a SigV4 signature
from one of those keys; it is checked with botocore's own SigV4Auth, so the
check does not share code with the signer under test. Without it, signatures
are not checked.

Test controls (never part of the real service):
  POST /__fault  {"target": "GetAuthorizationToken" | "pypi" | "*",
                  "kind": "status" | "throttle" | "reset" | "slow" |
                          "truncated" | "garbage" | "denied",
                  "times": 1, "status": 503, "retry_after": 1, "delay": 5, "skip": 0}
                 queue a fault for the next `times` matching requests
                 (after `skip` of them went through).
  DELETE /__fault           drop every queued fault.
  GET  /__stats             {"requests": {"Operation": n, ...}, "done": {...}}
                            (done: carried out, so a held request has finished)
  GET  /__tokens            {"tokens": [every authorization token issued]}
  POST /__reset             forget domains, packages, tokens, faults, stats.
  POST /__clock {"offset": s}  the server's clock runs s seconds off.
  POST /__expire-tokens     every authorization token issued so far expires.
  POST /__seed {"domain", "repository", "package", "versions": [{"version",
               "published": epoch s, "status", "assets": [{"name", "size"}],
               "requires": ["name spec", ...]}]}
               the domain, repository and versions made at once (assets
               filled with `size` bytes), as a year of releases would leave them.
"""
import argparse
import base64
import datetime
import email.utils
import hashlib
import json
import os
import re
import secrets
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore_signature

ACCOUNT_RE = re.compile(r"^[0-9]{12}$")
NAME_RE = re.compile(r"^[a-z][a-z0-9\-]{0,48}[a-z0-9]$")
REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{1,99}$")
FORMATS = ("npm", "pypi", "maven", "nuget")
STATUSES = ("Published", "Unfinished", "Unlisted", "Archived", "Disposed", "Deleted")
PEP691 = "application/vnd.pypi.simple.v1+json"
MAX_SKEW = 300  # seconds, as AWS allows


class ApiError(Exception):
    """An error answer in the rest-json shape: x-amzn-ErrorType + JSON body."""

    def __init__(self, status, code, message, headers=None, **extra):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}
        self.extra = extra


def not_found(kind, rid):
    return ApiError(404, "ResourceNotFoundException", f"{kind} {rid} not found",
                    resourceId=rid, resourceType=kind.lower().replace(" ", "-"))


def validation(message):
    return ApiError(400, "ValidationException", message, reason="FIELD_VALIDATION_FAILED")


def normalize(name):
    """PEP 503 project name normalisation."""
    return re.sub(r"[-_.]+", "-", name).lower()


class State:
    def __init__(self, account, region):
        self.account, self.region = account, region
        self.lock = threading.RLock()
        self.reset()

    def reset(self):
        with self.lock:
            self.domains = {}      # name -> dict
            self.repos = {}        # (domain, repo) -> dict
            self.packages = {}     # (domain, repo, normalized) -> {"name", "versions": {v: dict}}
            self.tokens = {}       # token -> {"domain", "expires"}
            self.faults = []
            self.stats = {}
            self.done = {}         # operation -> requests carried out (not faulted)
            self.clock_offset = 0.0

    def now(self):
        return time.time() + self.clock_offset

    def take_fault(self, target):
        with self.lock:
            self.stats[target] = self.stats.get(target, 0) + 1
            for f in self.faults:
                if f["target"] in (target, "*") or (f["target"] == "pypi" and target.startswith("pypi:")):
                    if f.get("skip", 0) > 0:
                        f["skip"] -= 1
                        return None
                    f["times"] -= 1
                    if f["times"] <= 0:
                        self.faults.remove(f)
                    return f
        return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # keep-alive requests stall 40 ms without it
    server_version = "codeartifact-fake"
    routes = {
        ("POST", "/v1/authorization-token"): "GetAuthorizationToken",
        ("GET", "/v1/repository/endpoint"): "GetRepositoryEndpoint",
        ("GET", "/v1/domain"): "DescribeDomain",
        ("POST", "/v1/domain"): "CreateDomain",
        ("GET", "/v1/repository"): "DescribeRepository",
        ("POST", "/v1/repository"): "CreateRepository",
        ("POST", "/v1/package/versions"): "ListPackageVersions",
        ("GET", "/v1/package/version"): "DescribePackageVersion",
        ("POST", "/v1/package/version/assets"): "ListPackageVersionAssets",
        ("POST", "/v1/package/versions/delete"): "DeletePackageVersions",
        ("POST", "/v1/package/versions/update_status"): "UpdatePackageVersionsStatus",
        ("POST", "/v1/package/versions/dispose"): "DisposePackageVersions",
        ("POST", "/v1/package/version/dependencies"): "ListPackageVersionDependencies",
    }

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.log_date_time_string(), fmt % args))

    @property
    def state(self):
        return self.server.state

    # -- plumbing -------------------------------------------------------

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send(self, status, body=b"", ctype="application/json", headers=None):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", secrets.token_hex(16))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def date_time_string(self, timestamp=None):
        # The Date header follows the (possibly skewed) server clock, so a
        # client can correct its own clock from it.
        return email.utils.formatdate(self.state.now(), usegmt=True)

    def send_json(self, status, doc, headers=None):
        self.send(status, json.dumps(doc), headers=headers)

    def send_error_doc(self, err):
        doc = {"message": err.message}
        doc.update({k: v for k, v in err.extra.items() if v is not None})
        headers = {"x-amzn-ErrorType": err.code + ":http://internal.amazon.com/coral/com.amazonaws.codeartifact/"}
        headers.update(err.headers)
        self.send_json(err.status, doc, headers)

    def apply_fault(self, fault, is_json=True):
        """Act out a queued fault. True when the request is answered."""
        kind = fault["kind"]
        if kind == "status":
            status = int(fault.get("status", 500))
            code = "ServiceUnavailableException" if status == 503 else "InternalServerException"
            self.send_error_doc(ApiError(status, code, "fault injected: %d" % status))
        elif kind == "denied":
            # What IAM's refusal looks like (a role without the action).
            self.send_error_doc(ApiError(403, "AccessDeniedException",
                                         "User: arn:aws:sts::%s:assumed-role/release/x is not authorized to perform: "
                                         "codeartifact:%s" % (self.server.state.account, fault.get("target", "*"))))
        elif kind == "throttle":
            ra = str(fault.get("retry_after", 1))
            self.send_error_doc(ApiError(429, "ThrottlingException", "Rate exceeded",
                                         headers={"Retry-After": ra}))
        elif kind == "reset":
            # SO_LINGER 0 makes close() send a RST instead of a FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
        elif kind == "slow":
            time.sleep(float(fault.get("delay", 5)))
            return False
        elif kind == "truncated":
            body = b'{"authorizationToken": "trunc'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body) + 100))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif kind == "garbage":
            self.send(200, "<html><body>502 Bad Gateway (proxy)</body></html>", ctype="text/html")
        else:
            self.send(400, "unknown fault kind %r" % kind, ctype="text/plain")
        return True

    # -- dispatch -------------------------------------------------------

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def do_HEAD(self):
        self.dispatch()

    def dispatch(self):
        url = urllib.parse.urlsplit(self.path)
        body = self.read_body()
        try:
            if url.path.startswith("/__"):
                return self.control(url.path, body)
            if url.path.startswith("/d/"):
                return self.pypi(url, body)
            op = self.routes.get((self.command, url.path))
            fault = self.state.take_fault(op or "unknown")
            if fault and self.apply_fault(fault):
                return
            if not op:
                raise ApiError(404, "UnknownOperationException", "no operation at %s %s" % (self.command, url.path))
            self.check_signature(url, body)
            query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
            doc = json.loads(body) if body.strip() else {}
            with self.state.lock:
                status, out = getattr(self, "op_" + op)(query, doc)
                self.state.done[op] = self.state.done.get(op, 0) + 1
            self.send_json(status, out)
        except ApiError as e:
            self.send_error_doc(e)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            self.send_error_doc(ApiError(400, "SerializationException", "bad JSON body: %s" % e))
        except (ConnectionError, OSError):
            self.close_connection = True

    def control(self, path, body):
        st = self.state
        doc = json.loads(body) if body.strip() else {}
        with st.lock:
            if path == "/__fault" and self.command == "POST":
                doc.setdefault("target", "*")
                doc.setdefault("times", 1)
                st.faults.append(doc)
            elif path == "/__fault" and self.command == "DELETE":
                st.faults.clear()
            elif path == "/__stats":
                return self.send_json(200, {"requests": st.stats, "done": st.done})
            elif path == "/__tokens":
                return self.send_json(200, {"tokens": sorted(st.tokens)})
            elif path == "/__reset":
                st.reset()
            elif path == "/__clock":
                st.clock_offset = float(doc.get("offset", 0))
            elif path == "/__seed":
                self.seed(doc)
            elif path == "/__expire-tokens":
                for t in st.tokens.values():
                    t["expires"] = 0
            else:
                return self.send(404, "no control %s" % path, ctype="text/plain")
        self.send_json(200, {"ok": True})

    def seed(self, doc):
        st = self.state
        d = st.domains.setdefault(doc["domain"], {"name": doc["domain"], "owner": st.account, "created": st.now(),
                                                  "encryptionKey": "arn:aws:kms:%s:%s:key/fake" % (st.region, st.account)})
        st.repos.setdefault((d["name"], doc["repository"]), {"name": doc["repository"], "description": None,
                                                             "upstreams": []})
        name = normalize(doc["package"])
        p = st.packages.setdefault((d["name"], doc["repository"], name), {"name": name, "versions": {}})
        for v in doc["versions"]:
            assets = {}
            for a in v.get("assets", []):
                data = (a["name"].encode() * (a["size"] // max(1, len(a["name"])) + 1))[:a["size"]]
                assets[a["name"]] = {"name": a["name"], "size": len(data), "data": data,
                                     "hashes": {"MD5": hashlib.md5(data).hexdigest(),
                                                "SHA-1": hashlib.sha1(data).hexdigest(),
                                                "SHA-256": hashlib.sha256(data).hexdigest(),
                                                "SHA-512": hashlib.sha512(data).hexdigest()}}
            p["versions"][v["version"]] = {"version": v["version"], "status": v.get("status", "Published"),
                                           "revision": base64.b64encode(secrets.token_bytes(24)).decode(),
                                           "published": v.get("published", st.now()), "assets": assets,
                                           "requires": v.get("requires")}

    # -- signatures -----------------------------------------------------

    def check_signature(self, url, body):
        keys = self.server.keys
        if keys is None:
            return
        auth = self.headers.get("Authorization", "")
        m = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                     r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$", auth)
        if not m:
            raise ApiError(403, "MissingAuthenticationTokenException",
                           "Missing Authentication Token" if not auth else "Authorization header malformed")
        akid, day, region, service, signed, signature = m.groups()
        if akid not in keys:
            raise ApiError(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
        secret, token = keys[akid]
        if token is not None and token in self.server.expired_tokens:
            raise ApiError(403, "ExpiredTokenException", "The security token included in the request is expired")
        if token is not None and self.headers.get("X-Amz-Security-Token") != token:
            raise ApiError(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
        amz_date = self.headers.get("X-Amz-Date", "")
        try:
            when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            raise ApiError(403, "IncompleteSignatureException", "X-Amz-Date missing or malformed")
        now = self.state.now()
        if abs(when.timestamp() - now) > MAX_SKEW:
            server = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
            earlier = when.timestamp() < now
            raise ApiError(403, "InvalidSignatureException",
                           "Signature %s: %s is now %s than %s (%s %s 5 min.)" % (
                               "expired" if earlier else "not yet current", amz_date,
                               "earlier" if earlier else "later", server, server, "-" if earlier else "+"))
        if service != "codeartifact" or region != self.server.region or day != amz_date[:8]:
            raise ApiError(403, "InvalidSignatureException",
                           "Credential should be scoped to a valid region/service: %s/%s" % (region, service))
        expected, missing = botocore_signature.expected(self, body, signed, amz_date, (akid, secret, token),
                                                        service, region)
        if missing:
            raise ApiError(403, "InvalidSignatureException", "signed header %s is missing" % missing)
        if expected != signature:
            raise ApiError(403, "InvalidSignatureException",
                           "The request signature we calculated does not match the signature you provided. "
                           "Check your AWS Secret Access Key and signing method.")

    # -- control-plane operations ---------------------------------------

    def need(self, query, name):
        v = query.get(name)
        if not v:
            raise validation("1 validation error detected: Value null at '%s' failed to satisfy "
                             "constraint: Member must not be null" % name)
        return v

    def domain_of(self, query):
        name = self.need(query, "domain")
        owner = query.get("domain-owner")
        if owner is not None and not ACCOUNT_RE.match(owner):
            raise validation("domain-owner must be a 12-digit account id")
        d = self.state.domains.get(name)
        if d is None or (owner and owner != d["owner"]):
            raise not_found("domain", name)
        return d

    def repo_of(self, query):
        d = self.domain_of(query)
        name = self.need(query, "repository")
        r = self.state.repos.get((d["name"], name))
        if r is None:
            raise not_found("repository", name)
        return d, r

    def package_of(self, query):
        d, r = self.repo_of(query)
        fmt = self.need(query, "format")
        if fmt not in FORMATS:
            raise validation("format must be one of " + ", ".join(FORMATS))
        name = self.need(query, "package")
        p = self.state.packages.get((d["name"], r["name"], normalize(name))) if fmt == "pypi" else None
        if p is None:
            raise not_found("package", name)
        return d, r, p

    def endpoint(self, d, r):
        return "http://%s/d/%s-%s/pypi/%s/" % (self.headers["Host"], d["name"], d["owner"], r["name"])

    def op_CreateDomain(self, query, doc):
        st = self.state
        name = self.need(query, "domain")
        if not NAME_RE.match(name):
            raise validation("domain name %r does not match [a-z][a-z0-9\\-]{0,48}[a-z0-9]" % name)
        if name in st.domains:
            raise ApiError(409, "ConflictException", "domain %s already exists" % name,
                           resourceId=name, resourceType="domain")
        st.domains[name] = {"name": name, "owner": st.account, "created": st.now(),
                            "encryptionKey": doc.get("encryptionKey") or
                            "arn:aws:kms:%s:%s:key/fake" % (st.region, st.account)}
        return 200, {"domain": self.domain_doc(st.domains[name])}

    def domain_doc(self, d):
        st = self.state
        repos = [r for (dn, _), r in st.repos.items() if dn == d["name"]]
        size = sum(a["size"] for (dn, _, _), p in st.packages.items() if dn == d["name"]
                   for v in p["versions"].values() for a in v["assets"].values())
        return {"name": d["name"], "owner": d["owner"],
                "arn": "arn:aws:codeartifact:%s:%s:domain/%s" % (st.region, d["owner"], d["name"]),
                "status": "Active", "createdTime": d["created"], "encryptionKey": d["encryptionKey"],
                "repositoryCount": len(repos), "assetSizeBytes": size,
                "s3BucketArn": "arn:aws:s3:::assets-%s-%s" % (d["owner"], st.region)}

    def op_DescribeDomain(self, query, doc):
        return 200, {"domain": self.domain_doc(self.domain_of(query))}

    def op_CreateRepository(self, query, doc):
        st = self.state
        d = self.domain_of(query)
        name = self.need(query, "repository")
        if not REPO_RE.match(name):
            raise validation("repository name %r is not valid" % name)
        if (d["name"], name) in st.repos:
            raise ApiError(409, "ConflictException", "repository %s already exists" % name,
                           resourceId=name, resourceType="repository")
        st.repos[(d["name"], name)] = {"name": name, "description": doc.get("description"),
                                       "upstreams": doc.get("upstreams") or []}
        return 200, {"repository": self.repo_doc(d, st.repos[(d["name"], name)])}

    def repo_doc(self, d, r):
        st = self.state
        out = {"name": r["name"], "administratorAccount": d["owner"], "domainName": d["name"],
               "domainOwner": d["owner"],
               "arn": "arn:aws:codeartifact:%s:%s:repository/%s/%s" % (st.region, d["owner"], d["name"], r["name"]),
               "upstreams": [{"repositoryName": u["repositoryName"]} for u in r["upstreams"]],
               "externalConnections": []}
        if r["description"] is not None:
            out["description"] = r["description"]
        return out

    def op_DescribeRepository(self, query, doc):
        d, r = self.repo_of(query)
        return 200, {"repository": self.repo_doc(d, r)}

    def op_GetAuthorizationToken(self, query, doc):
        st = self.state
        d = self.domain_of(query)
        duration = int(query.get("duration") or 43200)
        if duration != 0 and not 900 <= duration <= 43200:
            raise validation("durationSeconds must be 0 or between 900 and 43200")
        if duration == 0:
            duration = 3600
        token = "eyJ2ZXIiOjEsImlzdSI6" + base64.urlsafe_b64encode(secrets.token_bytes(48)).decode().rstrip("=")
        expires = int(st.now()) + duration
        st.tokens[token] = {"domain": d["name"], "expires": expires}
        return 200, {"authorizationToken": token, "expiration": expires}

    def op_GetRepositoryEndpoint(self, query, doc):
        d, r = self.repo_of(query)
        fmt = self.need(query, "format")
        if fmt not in FORMATS:
            raise validation("format must be one of " + ", ".join(FORMATS))
        return 200, {"repositoryEndpoint": self.endpoint(d, r)}

    def versions_sorted(self, p, query):
        vs = list(p["versions"].values())
        if query.get("sortBy") == "PUBLISHED_TIME":
            vs.sort(key=lambda v: v["published"], reverse=True)
        else:
            vs.sort(key=lambda v: v["version"])
        status = query.get("status")
        if status:
            if status not in STATUSES:
                raise validation("status must be one of " + ", ".join(STATUSES))
            vs = [v for v in vs if v["status"] == status]
        return vs

    def page(self, items, query, limit_max):
        limit = int(query.get("max-results") or limit_max)
        if not 1 <= limit <= 1000:
            raise validation("maxResults must be between 1 and 1000")
        start = 0
        if query.get("next-token"):
            try:
                start = int(base64.b64decode(query["next-token"]).decode().split(":")[1])
            except (ValueError, IndexError):
                raise validation("nextToken is not valid")
        chunk = items[start:start + limit]
        nxt = None
        if start + limit < len(items):
            nxt = base64.b64encode(("offset:%d" % (start + limit)).encode()).decode()
        return chunk, nxt

    def op_ListPackageVersions(self, query, doc):
        d, r, p = self.package_of(query)
        vs = self.versions_sorted(p, query)
        chunk, nxt = self.page(vs, query, 50)
        published = [v for v in p["versions"].values() if v["status"] == "Published"]
        out = {"format": "pypi", "package": p["name"],
               "versions": [{"version": v["version"], "revision": v["revision"], "status": v["status"],
                             "origin": {"domainEntryPoint": {"repositoryName": r["name"]},
                                        "originType": "INTERNAL"}} for v in chunk]}
        if published:
            out["defaultDisplayVersion"] = max(published, key=lambda v: v["published"])["version"]
        if nxt:
            out["nextToken"] = nxt
        return 200, out

    def version_of(self, query, p):
        v = p["versions"].get(self.need(query, "version"))
        if v is None:
            raise not_found("package version", query["version"])
        return v

    def op_DescribePackageVersion(self, query, doc):
        d, r, p = self.package_of(query)
        v = self.version_of(query, p)
        out = {"format": "pypi", "packageName": p["name"], "displayName": p["name"],
               "version": v["version"], "publishedTime": v["published"], "revision": v["revision"],
               "status": v["status"], "licenses": [],
               "origin": {"domainEntryPoint": {"repositoryName": r["name"]}, "originType": "INTERNAL"}}
        if v.get("summary"):
            out["summary"] = v["summary"]
        return 200, {"packageVersion": out}

    def op_ListPackageVersionAssets(self, query, doc):
        d, r, p = self.package_of(query)
        v = self.version_of(query, p)
        assets = sorted(v["assets"].values(), key=lambda a: a["name"])
        chunk, nxt = self.page(assets, query, 50)
        out = {"format": "pypi", "package": p["name"], "version": v["version"], "versionRevision": v["revision"],
               "assets": [{"name": a["name"], "size": a["size"], "hashes": a["hashes"]} for a in chunk]}
        if nxt:
            out["nextToken"] = nxt
        return 200, out

    def changeable_versions(self, p, doc, target, failed):
        """The versions a status change names that it may change, as (version,
        record); the others go into `failed` with CodeArtifact's error codes."""
        revisions = doc.get("versionRevisions") or {}
        expected = doc.get("expectedStatus")
        for ver in self.versions_arg(doc):
            v = p["versions"].get(ver)
            if v is None:
                failed[ver] = {"errorCode": "NOT_FOUND", "errorMessage": "version %s not found" % ver}
            elif ver in revisions and revisions[ver] != v["revision"]:
                failed[ver] = {"errorCode": "MISMATCHED_REVISION", "errorMessage": "revision mismatch"}
            elif expected and v["status"] != expected:
                failed[ver] = {"errorCode": "MISMATCHED_STATUS",
                               "errorMessage": "status is %s, expected %s" % (v["status"], expected)}
            elif v["status"] == target:
                failed[ver] = {"errorCode": "SKIPPED", "errorMessage": "already %s" % target}
            else:
                yield ver, v

    def versions_arg(self, doc):
        versions = doc.get("versions")
        if not isinstance(versions, list) or not versions or len(versions) > 100:
            raise validation("versions must be a list of 1 to 100 versions")
        return versions

    def op_DeletePackageVersions(self, query, doc):
        d, r, p = self.package_of(query)
        ok, failed = {}, {}
        # no versionRevisions in this call; a deleted version is gone, never "already Deleted"
        for ver, v in self.changeable_versions(p, doc, "Deleted", failed):
            del p["versions"][ver]
            ok[ver] = {"revision": v["revision"], "status": "Deleted"}
        return 200, {"successfulVersions": ok, "failedVersions": failed}

    def op_UpdatePackageVersionsStatus(self, query, doc):
        d, r, p = self.package_of(query)
        target = doc.get("targetStatus")
        if target not in ("Published", "Unlisted", "Archived"):
            raise validation("targetStatus must be Published, Unlisted or Archived")
        ok, failed = {}, {}
        for ver, v in self.changeable_versions(p, doc, target, failed):
            v["status"] = target
            ok[ver] = {"revision": v["revision"], "status": target}
        return 200, {"successfulVersions": ok, "failedVersions": failed}

    def op_DisposePackageVersions(self, query, doc):
        d, r, p = self.package_of(query)
        ok, failed = {}, {}
        for ver, v in self.changeable_versions(p, doc, "Disposed", failed):
            v["status"], v["assets"] = "Disposed", {}
            ok[ver] = {"revision": v["revision"], "status": "Disposed"}
        return 200, {"successfulVersions": ok, "failedVersions": failed}

    def op_ListPackageVersionDependencies(self, query, doc):
        d, r, p = self.package_of(query)
        v = self.version_of(query, p)
        requires = v.get("requires")
        if requires is None:
            requires = requires_dist(v["assets"].values())
        deps = []
        for text in requires:
            m = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._\-]*)\s*(?:\[[^\]]*\])?\s*\(?([^;)]*)\)?", text)
            if m:
                deps.append({"package": normalize(m.group(1)), "dependencyType": "",
                             "versionRequirement": m.group(2).strip()})
        return 200, {"format": "pypi", "package": p["name"], "version": v["version"],
                     "versionRevision": v["revision"], "dependencies": deps}

    # -- the repository's PyPI endpoint ----------------------------------

    def pypi(self, url, body):
        m = re.match(r"^/d/([a-z0-9\-]+)-([0-9]{12})/pypi/([^/]+)/(.*)$", url.path)
        if not m:
            return self.send(404, "not found\n", ctype="text/plain")
        dname, owner, rname, rest = m.groups()
        target = "pypi:" + ("upload" if self.command == "POST" else "simple" if rest.startswith("simple") else "files")
        fault = self.state.take_fault(target)
        if fault and self.apply_fault(fault):
            return
        with self.state.lock:
            d = self.state.domains.get(dname)
            r = self.state.repos.get((dname, rname))
            if d is None or d["owner"] != owner or r is None:
                return self.send(404, "repository not found\n", ctype="text/plain")
            if not self.token_ok(dname):
                return self.send(401, "Unauthorized: token missing, invalid or expired\n", ctype="text/plain",
                                 headers={"WWW-Authenticate": 'Basic realm="codeartifact"'})
            if self.command == "POST" and rest == "":
                return self.upload(d, r, body)
            if self.command in ("GET", "HEAD") and rest.startswith("simple/"):
                return self.simple(d, r, rest[len("simple/"):])
            if self.command in ("GET", "HEAD") and rest.startswith("files/"):
                return self.download(d, r, rest[len("files/"):])
        self.send(404, "not found\n", ctype="text/plain")

    def token_ok(self, domain):
        auth = self.headers.get("Authorization", "")
        token = None
        if auth.startswith("Basic "):
            try:
                user, _, token = base64.b64decode(auth[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            if user != "aws":
                return False
        elif auth.startswith("Bearer "):
            token = auth[7:]
        t = self.state.tokens.get(token)
        return t is not None and t["domain"] == domain and t["expires"] > self.state.now()

    def upload(self, d, r, body):
        fields = parse_multipart(self.headers.get("Content-Type", ""), body)
        if fields is None:
            return self.send(400, "expected multipart/form-data\n", ctype="text/plain")
        action = fields.get(":action", (None, b""))[1].decode()
        if action != "file_upload":
            return self.send(400, "unsupported :action %r\n" % action, ctype="text/plain")
        name = fields.get("name", (None, b""))[1].decode()
        version = fields.get("version", (None, b""))[1].decode()
        content = fields.get("content")
        if not name or not version or content is None or not content[0]:
            return self.send(400, "name, version and content (a file) are required\n", ctype="text/plain")
        filename, data = content
        sha = hashlib.sha256(data).hexdigest()
        claimed = fields.get("sha256_digest", (None, b""))[1].decode()
        if claimed and claimed != sha:
            return self.send(400, "sha256_digest does not match the content\n", ctype="text/plain")
        key = (d["name"], r["name"], normalize(name))
        p = self.state.packages.setdefault(key, {"name": normalize(name), "versions": {}})
        v = p["versions"].get(version)
        if v is None:
            v = {"version": version, "revision": base64.b64encode(secrets.token_bytes(24)).decode(),
                 "status": "Published", "published": self.state.now(), "assets": {},
                 "summary": fields.get("summary", (None, b""))[1].decode()}
            p["versions"][version] = v
        elif v["status"] not in ("Published", "Unlisted", "Unfinished"):
            return self.send(409, "version %s of %s is %s\n" % (version, name, v["status"]), ctype="text/plain")
        existing = v["assets"].get(filename)
        if existing is not None:
            if existing["hashes"]["SHA-256"] == sha:
                return self.send(200, "OK\n", ctype="text/plain")
            return self.send(409, "asset %s already exists with different content\n" % filename, ctype="text/plain")
        v["assets"][filename] = {"name": filename, "size": len(data), "data": data,
                                 "hashes": {"MD5": hashlib.md5(data).hexdigest(),
                                            "SHA-1": hashlib.sha1(data).hexdigest(),
                                            "SHA-256": sha,
                                            "SHA-512": hashlib.sha512(data).hexdigest()}}
        self.send(200, "OK\n", ctype="text/plain")

    def files_of(self, d, r, project):
        p = self.state.packages.get((d["name"], r["name"], project))
        if p is None:
            return None
        out = []
        for v in sorted(p["versions"].values(), key=lambda v: v["version"]):
            if v["status"] != "Published":
                continue
            for a in sorted(v["assets"].values(), key=lambda a: a["name"]):
                out.append((v, a))
        return out

    def simple(self, d, r, rest):
        base = "/d/%s-%s/pypi/%s/" % (d["name"], d["owner"], r["name"])
        want_json = PEP691 in self.headers.get("Accept", "")
        ctype = PEP691 if want_json else "text/html"
        if rest == "":
            names = sorted({p["name"] for (dn, rn, _), p in self.state.packages.items()
                            if dn == d["name"] and rn == r["name"]})
            if want_json:
                doc = {"meta": {"api-version": "1.0"}, "projects": [{"name": n} for n in names]}
                return self.send(200, json.dumps(doc), ctype=ctype)
            links = "".join('<a href="%s/">%s</a>\n' % (n, n) for n in names)
            return self.send(200, "<!DOCTYPE html>\n<html><body>\n%s</body></html>\n" % links, ctype=ctype)
        project = rest.rstrip("/")
        if normalize(project) != project:
            return self.send(301, "", headers={"Location": base + "simple/" + normalize(project) + "/"})
        files = self.files_of(d, r, project)
        if not files:
            return self.send(404, "project %s not found\n" % project, ctype="text/plain")
        if want_json:
            doc = {"meta": {"api-version": "1.0"}, "name": project,
                   "files": [{"filename": a["name"], "url": "%sfiles/%s/%s/%s" % (base, project, v["version"], a["name"]),
                              "hashes": {"sha256": a["hashes"]["SHA-256"]}} for v, a in files]}
            return self.send(200, json.dumps(doc), ctype=ctype)
        links = "".join('<a href="%sfiles/%s/%s/%s#sha256=%s">%s</a><br/>\n' % (
            base, project, v["version"], a["name"], a["hashes"]["SHA-256"], a["name"]) for v, a in files)
        self.send(200, "<!DOCTYPE html>\n<html><head><title>Links for %s</title></head><body>\n<h1>Links for %s</h1>\n"
                  "%s</body></html>\n" % (project, project, links), ctype=ctype)

    def download(self, d, r, rest):
        parts = rest.split("/")
        if len(parts) != 3:
            return self.send(404, "not found\n", ctype="text/plain")
        project, version, filename = parts
        for v, a in self.files_of(d, r, project) or []:
            if v["version"] == version and a["name"] == filename:
                return self.send(200, a["data"], ctype="application/octet-stream")
        self.send(404, "file not found\n", ctype="text/plain")


def requires_dist(assets):
    """Requires-Dist of the first wheel among the assets (its METADATA)."""
    import email.parser
    import io
    import zipfile
    for a in assets:
        if not a["name"].endswith(".whl"):
            continue
        try:
            with zipfile.ZipFile(io.BytesIO(a["data"])) as z:
                name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
                meta = email.parser.Parser().parsestr(z.read(name).decode())
                return meta.get_all("Requires-Dist") or []
        except (zipfile.BadZipFile, StopIteration, UnicodeDecodeError):
            continue
    return []


def parse_multipart(ctype, body):
    """{field: (filename or None, bytes)} from a multipart/form-data body."""
    m = re.match(r'multipart/form-data;\s*boundary="?([^";]+)"?', ctype)
    if not m:
        return None
    delim = b"--" + m.group(1).encode()
    fields = {}
    for part in body.split(delim)[1:]:
        if part.startswith(b"--"):
            break
        part = part[2:] if part.startswith(b"\r\n") else part
        head, _, data = part.partition(b"\r\n\r\n")
        if data.endswith(b"\r\n"):
            data = data[:-2]
        disp = re.search(rb'Content-Disposition:\s*form-data;\s*name="([^"]*)"(?:;\s*filename="([^"]*)")?',
                         head, re.IGNORECASE)
        if not disp:
            continue
        name = disp.group(1).decode()
        filename = disp.group(2).decode() if disp.group(2) is not None else None
        fields[name] = (filename, data)
    return fields


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--account", default="111122223333")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--credentials", action="append", default=None,
                    help="AKID:SECRET[:SESSION_TOKEN]; signatures are checked when given")
    ap.add_argument("--expired", action="append", default=[],
                    help="a session token of --credentials that is answered with ExpiredTokenException")
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.state = State(args.account, args.region)
    server.region = args.region
    server.keys = None
    server.expired_tokens = set(args.expired)
    if args.credentials:
        server.keys = {}
        for c in args.credentials:
            akid, secret, *token = c.split(":", 2)
            server.keys[akid] = (secret, token[0] if token else None)
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
