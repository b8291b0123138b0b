#!/usr/bin/env python3
"""A smart-HTTP git server for tests: `git http-backend` run as CGI behind
HTTP basic auth with a token, as GitHub takes one (user x-access-token).

    git_http.py --root DIR --port-file FILE [--token-file FILE] [--stall S]
                [--auth-log FILE]
    (the token: the file's content, else GIT_HTTP_TOKEN)

Binds 127.0.0.1 on a free port and writes the port to FILE once listening.
Repositories are the bare ones under DIR (GIT_PROJECT_ROOT); pushes are
allowed (http.receivepack). A request without the right credentials gets
401 with a Basic challenge, as a real host answers. With --auth-log, each
request appends a line "METHOD PATH AUTHORIZATION" (the header as received,
"-" when there was none) to FILE: what a client sent, for tests that check a
token never reached a server.
"""
import argparse
import base64
import hmac
import os
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # keep-alive requests otherwise stall 40 ms
    root = ""
    token = ""
    stall = 0.0  # seconds to wait before answering (a hung server, for Ctrl-C tests)
    auth_log = None

    def log_message(self, fmt, *args):
        sys.stderr.write("git_http: " + (fmt % args) + "\n")

    def authorized(self):
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return user == "x-access-token" and hmac.compare_digest(password, self.token)

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status, headers, body):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def cgi(self):
        body = self.read_body()
        if self.auth_log:
            with open(self.auth_log, "a") as f:
                f.write("%s %s %s\n" % (self.command, self.path, self.headers.get("Authorization", "-")))
        if self.stall:
            time.sleep(self.stall)
        if not self.authorized():
            self.reply(401, [("WWW-Authenticate", 'Basic realm="git"'),
                             ("Content-Type", "text/plain")], b"authentication required\n")
            return
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": self.root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.receivepack",
            "GIT_CONFIG_VALUE_0": "true",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": "x-access-token",
            "REMOTE_ADDR": self.client_address[0],
        }
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        out = subprocess.run(["git", "http-backend"], input=body, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        if out.stderr:
            sys.stderr.write(out.stderr.decode(errors="replace"))
        head, _, payload = out.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = out.stdout.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode(errors="replace").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.reply(status, headers, payload)

    do_GET = cgi
    do_POST = cgi


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True, help="folder of bare repositories")
    ap.add_argument("--port-file", required=True, help="file to write the port to")
    ap.add_argument("--token-file", help="file holding the token (else GIT_HTTP_TOKEN)")
    ap.add_argument("--stall", type=float, default=0.0, help="seconds to wait before answering")
    ap.add_argument("--auth-log", help="file to append each request's Authorization header to")
    args = ap.parse_args()
    Handler.stall = args.stall
    Handler.auth_log = args.auth_log
    Handler.root = os.path.abspath(args.root)
    if args.token_file:
        with open(args.token_file) as f:
            Handler.token = f.read().strip()
    else:
        Handler.token = os.environ.get("GIT_HTTP_TOKEN", "")
    if not Handler.token:
        sys.exit("git_http: no token: give --token-file or set GIT_HTTP_TOKEN")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(tmp, args.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
