#!/usr/bin/env python3
"""Start moto's server (STS, S3, IAM, ...) on 127.0.0.1, on a free port that
is written to --port-file once it listens. moto's own CLI cannot bind port 0
and tell which port it got; this is the same app, served the same way.

    python3 tests/support/aws_moto.py --port-file FILE
Signature checking follows INITIAL_NO_AUTH_ACTION_COUNT (moto's setting).
"""
import argparse
import os

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import WSGIRequestHandler, make_server


class Handler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"    # keep-alive, as real endpoints do
    disable_nagle_algorithm = True   # or each keep-alive request stalls 40 ms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    args = ap.parse_args()
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_port))
    os.rename(tmp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
