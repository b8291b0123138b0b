#!/usr/bin/env python3
"""Credential sources relrun reads over HTTP, faked for its tests:

  GET /oidc?x=1&audience=AUD       GitHub Actions' ID-token endpoint
      (Authorization: Bearer <--request-token>) -> {"value": "<JWT>"}, a new
      JWT each time, with the audience in its claims.
  GET /container                   ECS/EKS container credentials
      (Authorization: <--auth-token>) -> {"AccessKeyId", "SecretAccessKey",
      "Token", "Expiration"} from --keys AKID:SECRET:TOKEN.
  PUT /latest/api/token            IMDSv2 session token (needs X-aws-ec2-metadata-token-ttl-seconds)
  GET /latest/meta-data/iam/security-credentials/[ROLE]
                                   the role's name, then its credentials (needs the session token;
                                   401 without it, as IMDSv2 answers)
  GET /__stats                     {"oidc": n, "container": n, "imds": n, "audiences": [...]}

    python3 tests/fakes/aws_metadata.py --port-file F --request-token T --auth-token A --keys K:S:T
"""
import argparse
import base64
import datetime
import json
import os
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def b64(doc):
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    def send(self, status, doc):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_text(self, status, text):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        srv = self.server
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path != "/latest/api/token" or not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            return self.send(400, {"message": "bad token request"})
        with srv.lock:
            token = "imds-" + secrets.token_hex(24)
            srv.imds_tokens.add(token)
        self.send_text(200, token)

    def do_GET(self):
        srv = self.server
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        auth = self.headers.get("Authorization", "")
        with srv.lock:
            if url.path == "/oidc":
                srv.stats["oidc"] += 1
                if auth != "Bearer " + srv.args.request_token:
                    return self.send(401, {"message": "bad bearer token"})
                aud = q.get("audience", [""])[-1]
                srv.stats["audiences"].append(aud)
                now = int(time.time())
                claims = {"iss": "https://token.actions.githubusercontent.com", "aud": aud,
                          "sub": "repo:acme/stock-pipeline:ref:refs/tags/v1.2.3", "iat": now, "exp": now + 300,
                          "jti": secrets.token_hex(8)}
                jwt = b64({"alg": "RS256", "typ": "JWT"}) + "." + b64(claims) + "." + secrets.token_urlsafe(32)
                srv.stats["tokens"].append(jwt)
                return self.send(200, {"count": 1, "value": jwt})
            if url.path == "/container":
                srv.stats["container"] += 1
                if auth != srv.args.auth_token:
                    return self.send(401, {"message": "bad authorization token"})
                akid, secret, token = srv.args.keys.split(":", 2)
                exp = datetime.datetime.utcfromtimestamp(time.time() + 3600).strftime("%Y-%m-%dT%H:%M:%SZ")
                return self.send(200, {"AccessKeyId": akid, "SecretAccessKey": secret, "Token": token,
                                       "Expiration": exp})
            if url.path.startswith("/latest/meta-data/iam/security-credentials/"):
                srv.stats["imds"] += 1
                if self.headers.get("X-aws-ec2-metadata-token") not in srv.imds_tokens:
                    return self.send(401, {"message": "IMDSv2 session token required"})
                role = url.path.rsplit("/", 1)[1]
                if role == "":
                    return self.send_text(200, "relrun-instance-role")
                if role != "relrun-instance-role":
                    return self.send(404, {"message": "no such role"})
                akid, secret, token = srv.args.keys.split(":", 2)
                exp = datetime.datetime.utcfromtimestamp(time.time() + 3600).strftime("%Y-%m-%dT%H:%M:%SZ")
                return self.send(200, {"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": "IMDS" + akid,
                                       "SecretAccessKey": secret, "Token": token, "Expiration": exp})
            if url.path == "/__stats":
                return self.send(200, srv.stats)
        self.send(404, {"message": "no such path"})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--request-token", default="gh-request-token")
    ap.add_argument("--auth-token", default="container-auth-token")
    ap.add_argument("--keys", default="AKIDCONTAINER:container-secret:container-session")
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.args, server.lock = args, threading.Lock()
    server.stats = {"oidc": 0, "container": 0, "imds": 0, "audiences": [], "tokens": []}
    server.imds_tokens = set()
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
