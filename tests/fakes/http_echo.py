"""An HTTP/1.1 peer for tests/integration/http_spec.lua (stdlib only).

Binds 127.0.0.1 on a free port and writes the port to --port-file; with
--cert/--key it speaks HTTPS.
Answers are "key=value" lines (one per line, easy to read from Lua):

  ANY  /echo[...]        method, path, one "header=Name: value" per header,
                         body_size, body_sha256 (streamed, never held), conn
  POST /multipart        per part: "part=<name> size=<n> sha256=<hex>
                         filename=<f> type=<content-type>"
  GET  /bytes/N          N bytes (byte i is i % 251), with Content-Length
  GET  /slow/S           waits S seconds, then answers "slow=done", conn
  GET  /hold/NAME        answers "held=NAME" only once /release/NAME was
                         asked (or after 60 s: "held=timeout")
  GET  /release/NAME     lets /hold/NAME answer; "released=NAME"
  GET  /reset            closes the connection with a TCP reset, no answer
  GET  /redirect/N       302 to /redirect/N-1; /redirect/0 is /echo
  ANY  /to/S/HOST/REST   answers status S with Location http://HOST/echo/REST
                         (HOST may hold a port: another origin, or this one;
                         REST is percent-decoded, so it can hold a query)
  ANY  /trickle/S        reads the body, then sends a 200 with Content-Length
                         100000, one byte every S seconds (a stalled server)
  GET  /endless          a chunked answer that never ends
  GET  /repeat           two "X-Multi" headers and two "Set-Cookie" headers
  GET  /connections      "connections=<n>": connections accepted so far
  GET  /seen             "seen=METHOD PATH auth=A token=T" for every request
                         so far but these control ones (A: Authorization,
                         T: X-Amz-Security-Token, "-" when absent)
  GET  /status/N         an empty answer with status N
  GET  /proxied          "proxied=<request>" for each request it got as a
                         proxy: "GET http://..." (answered as /echo) and
                         "CONNECT host:port" (refused with 403)
"""
import argparse
import hashlib
import os
import socket
import ssl
import struct
import threading
import time
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

LOCK = threading.Lock()
CONNECTIONS = [0]
PROXIED = []
SEEN = []
HOLDS = {}  # name -> threading.Event


def hold_event(name):
    with LOCK:
        return HOLDS.setdefault(name, threading.Event())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # without it, keep-alive requests stall on delayed ACKs (FIELD-NOTES)
    disable_nagle_algorithm = True

    def setup(self):
        super().setup()
        with LOCK:
            CONNECTIONS[0] += 1
            self.conn_id = CONNECTIONS[0]

    def log_message(self, fmt, *args):
        pass

    def answer(self, lines, status=200, extra=()):
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def body_chunks(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return
                yield self.rfile.read(size)
                self.rfile.readline()
        left = int(self.headers.get("Content-Length") or 0)
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 16))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk

    def echo(self):
        h = hashlib.sha256()
        size = 0
        for chunk in self.body_chunks():
            h.update(chunk)
            size += len(chunk)
        lines = ["method=" + self.command, "path=" + self.path, "conn=%d" % self.conn_id,
                 "body_size=%d" % size, "body_sha256=" + h.hexdigest()]
        lines += ["header=%s: %s" % (k, v) for k, v in self.headers.items()]
        self.answer(lines)

    def multipart(self):
        body = b"".join(self.body_chunks())
        head = b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n"
        msg = BytesParser(policy=HTTP).parsebytes(head + body)
        lines = []
        for part in msg.iter_parts():
            data = part.get_payload(decode=True) or b""
            lines.append("part=%s size=%d sha256=%s filename=%s type=%s" % (
                part.get_param("name", header="content-disposition"), len(data),
                hashlib.sha256(data).hexdigest(), part.get_filename() or "", part.get_content_type()))
            if part.get_filename() is None:
                lines.append("field=%s=%s" % (part.get_param("name", header="content-disposition"),
                                              data.decode()))
        self.answer(lines)

    def download(self, n):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(n))
        self.end_headers()
        block = bytes(i % 251 for i in range(251 * 261))  # a whole number of periods
        while n > 0:
            piece = block[:min(n, len(block))]
            self.wfile.write(piece)
            n -= len(piece)

    def trickle(self, every):
        for _ in self.body_chunks():
            pass
        self.send_response(200)
        self.send_header("Content-Length", "100000")
        self.end_headers()
        try:
            for _ in range(100000):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(every)
        except OSError:
            pass  # the client gave up, as it should
        self.close_connection = True

    def endless(self):
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"%x\r\n%s\r\n" % (65536, b"e" * 65536)
        try:
            while True:
                self.wfile.write(chunk)
        except OSError:
            pass
        self.close_connection = True

    def reset(self):
        # SO_LINGER with a zero timeout: close() sends RST
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def do_CONNECT(self):
        with LOCK:
            PROXIED.append("CONNECT " + self.path)
        self.answer(["connect=refused"], 403)
        self.close_connection = True

    def route(self):
        if self.path.startswith("http://"):
            with LOCK:
                PROXIED.append(self.command + " " + self.path)
            self.echo()
            return
        parts = self.path.split("?")[0].strip("/").split("/")
        what = parts[0]
        arg = parts[1] if len(parts) > 1 else ""
        if what not in ("seen", "connections", "proxied"):
            with LOCK:
                SEEN.append("seen=%s %s auth=%s token=%s" % (
                    self.command, self.path, self.headers.get("Authorization", "-"),
                    self.headers.get("X-Amz-Security-Token", "-")))
        if what == "echo":
            self.echo()
        elif what == "multipart":
            self.multipart()
        elif what == "bytes":
            self.download(int(arg))
        elif what == "slow":
            time.sleep(float(arg))
            self.answer(["slow=done", "conn=%d" % self.conn_id])
        elif what == "hold":
            released = hold_event(arg).wait(60)
            self.answer(["held=%s" % (arg if released else "timeout")])
        elif what == "release":
            hold_event(arg).set()
            self.answer(["released=%s" % arg])
        elif what == "reset":
            self.reset()
        elif what == "redirect":
            n = int(arg)
            self.answer(["redirect=%d" % n], 302,
                        [("Location", "/redirect/%d" % (n - 1) if n > 0 else "/echo/redirected")])
        elif what == "to":
            segs = self.path.split("?")[0].split("/", 4) + ["", ""]
            host, tail = segs[3], unquote(segs[4])
            for _ in self.body_chunks():
                pass
            self.answer(["to=" + unquote(host)], int(arg),
                        [("Location", "http://%s/echo/%s" % (unquote(host), tail))])
        elif what == "trickle":
            self.trickle(float(arg))
        elif what == "endless":
            self.endless()
        elif what == "repeat":
            self.answer(["repeat=1"], 200, [("X-Multi", "a"), ("X-Multi", "b"),
                                            ("Set-Cookie", "s=1"), ("Set-Cookie", "t=2")])
        elif what == "seen":
            with LOCK:
                self.answer(list(SEEN))
        elif what == "connections":
            self.answer(["connections=%d" % CONNECTIONS[0]])
        elif what == "proxied":
            with LOCK:
                self.answer(["proxied=" + p for p in PROXIED])
        elif what == "status":
            self.answer([], int(arg))
        else:
            self.answer(["unknown=" + self.path], 404)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = route


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(tmp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
