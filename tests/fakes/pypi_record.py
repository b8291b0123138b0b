#!/usr/bin/env python3
"""A PyPI legacy upload endpoint and simple index for relrun's tests (stdlib).

Listens on 127.0.0.1 (port 0 unless --port), writes the port to --port-file.
  POST /legacy/ (any path but /redirect/...): the upload form.
  POST /redirect/...: 301 to /legacy/ (as an index moved to https would).
       Each upload is appended to --record (JSON lines): the form fields in
       the order received as [name, value] pairs, the file part's name,
       filename, size and sha256, the basic-auth user, the client's
       User-Agent. A file name already stored with the same bytes answers
       200 (CodeArtifact and PyPI accept an identical re-upload); different
       bytes answer 409 "already exists" and keep the stored file.
       --conflict-always answers 409 to every re-upload, identical or not.
  GET  /simple/ and /simple/<name>/: PEP 503 HTML with #sha256= links, or
       PEP 691 JSON when the Accept header asks for
       application/vnd.pypi.simple.v1+json.
  GET  /packages/<name>/<file>: the stored bytes.
With --username/--password, uploads need that basic auth (401 otherwise).
With --fail-first N, the first N uploads get a 503 (not recorded).
With --html-only, index pages are always HTML (an index without PEP 691).
With --sink, upload bodies are read and dropped unparsed (benchmarks).
"""
import argparse
import base64
import hashlib
import html
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
FILES = {}  # normalized project -> {filename: bytes}


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_multipart(body, content_type):
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not m:
        raise ValueError("multipart without a boundary")
    delim = b"--" + m.group(1).encode()
    parts = []
    chunks = body.split(delim)
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk
        head, _, data = chunk.partition(b"\r\n\r\n")
        if data.endswith(b"\r\n"):
            data = data[:-2]
        headers = {}
        for line in head.decode("utf-8").split("\r\n"):
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        disp = headers.get("content-disposition", "")
        name = re.search(r'\bname="([^"]*)"', disp)
        filename = re.search(r'\bfilename="([^"]*)"', disp)
        parts.append((name.group(1) if name else None,
                      filename.group(1) if filename else None, data))
    return parts


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "pypi-record/1"

    def log_message(self, fmt, *args):  # keep the test output clean
        pass

    def reply(self, status, body=b"", content_type="text/plain; charset=utf-8"):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def user(self):
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return None, None
        user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        return user, password

    def sink(self):
        """--sink: read and drop the body (benchmarks), answer 200."""
        left = int(self.headers.get("Content-Length", "0"))
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 20))
            if not chunk:
                break
            left -= len(chunk)
        self.reply(200, "OK")

    def do_POST(self):
        if self.path.startswith("/redirect/"):
            self.read_body()
            self.send_response(301)
            self.send_header("Location", "/legacy/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.server.opts.sink:
            return self.sink()
        body = self.read_body()
        user, password = self.user()
        opts = self.server.opts
        if opts.username is not None and (user, password) != (opts.username, opts.password):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="pypi"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        try:
            parts = parse_multipart(body, self.headers.get("Content-Type", ""))
        except ValueError as e:
            return self.reply(400, str(e))
        fields, content = [], None
        for name, filename, data in parts:
            if filename is not None:
                content = {"name": name, "filename": filename, "size": len(data),
                           "sha256": hashlib.sha256(data).hexdigest(), "data": data}
            else:
                fields.append([name, data.decode("utf-8")])
        if content is None:
            return self.reply(400, "no file part")
        with LOCK:
            self.server.posts += 1
            failing = self.server.posts <= opts.fail_first
        if failing:
            return self.reply(503, "503 Service Unavailable (--fail-first)")
        project = normalize(dict(fields).get("name", ""))
        data = content.pop("data")
        record = {"fields": fields, "content": content, "user": user,
                  "user_agent": self.headers.get("User-Agent", "")}
        with open(opts.record, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        with LOCK:
            stored = FILES.setdefault(project, {})
            old = stored.get(content["filename"])
            if old is not None and (old != data or opts.conflict_always):
                return self.reply(409, f"409 Conflict: {content['filename']} already exists")
            stored[content["filename"]] = data
        self.reply(200, "OK")

    def do_GET(self):
        path = self.path.split("?")[0]
        want_json = ("application/vnd.pypi.simple.v1+json" in self.headers.get("Accept", "")
                     and not self.server.opts.html_only)
        with LOCK:
            snapshot = {p: dict(f) for p, f in FILES.items()}
        if path == "/simple/":
            return self.project_list(snapshot, want_json)
        m = re.fullmatch(r"/simple/([^/]+)/", path)
        if m:
            if m.group(1) != normalize(m.group(1)):
                self.send_response(301)
                self.send_header("Location", f"/simple/{normalize(m.group(1))}/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            files = snapshot.get(m.group(1))
            if files is None:
                return self.reply(404, "Not Found")
            return self.project_page(m.group(1), files, want_json)
        m = re.fullmatch(r"/packages/([^/]+)/([^/]+)", path)
        if m and m.group(2) in snapshot.get(m.group(1), {}):
            return self.reply(200, snapshot[m.group(1)][m.group(2)], "application/octet-stream")
        self.reply(404, "Not Found")

    def project_list(self, snapshot, want_json):
        if want_json:
            doc = {"meta": {"api-version": "1.0"}, "projects": [{"name": p} for p in sorted(snapshot)]}
            return self.reply(200, json.dumps(doc), "application/vnd.pypi.simple.v1+json")
        links = "".join(f'<a href="/simple/{p}/">{p}</a>\n' for p in sorted(snapshot))
        self.reply(200, f"<!DOCTYPE html><html><body>\n{links}</body></html>\n", "text/html")

    def project_page(self, project, files, want_json):
        rows = [(name, hashlib.sha256(data).hexdigest()) for name, data in sorted(files.items())]
        if want_json:
            doc = {"meta": {"api-version": "1.0"}, "name": project,
                   "files": [{"filename": n, "url": f"/packages/{project}/{n}",
                              "hashes": {"sha256": h}} for n, h in rows]}
            return self.reply(200, json.dumps(doc), "application/vnd.pypi.simple.v1+json")
        links = "".join(f'<a href="/packages/{project}/{html.escape(n)}#sha256={h}">{html.escape(n)}</a><br/>\n'
                        for n, h in rows)
        self.reply(200, f"<!DOCTYPE html><html><body>\n<h1>Links for {project}</h1>\n{links}</body></html>\n",
                   "text/html")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--record", required=True, help="JSON lines file, one upload per line")
    ap.add_argument("--username")
    ap.add_argument("--password")
    ap.add_argument("--conflict-always", action="store_true")
    ap.add_argument("--sink", action="store_true", help="drop upload bodies unparsed (for benchmarks)")
    ap.add_argument("--fail-first", type=int, default=0, help="answer 503 to the first N uploads")
    ap.add_argument("--html-only", action="store_true", help="serve PEP 503 HTML even when JSON is asked for")
    opts = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", opts.port), Handler)
    server.opts = opts
    server.posts = 0
    if opts.port_file:
        with open(opts.port_file + ".tmp", "w") as f:
            f.write(str(server.server_address[1]))
        import os
        os.replace(opts.port_file + ".tmp", opts.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
