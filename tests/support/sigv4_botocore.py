"""Sign requests with botocore's SigV4Auth / S3SigV4Auth: an independent
check of relrun.sigv4 (tests/lua/sigv4_spec.lua).

stdin: cases separated by lines "---"; each line "key=value" (method, url,
service, region, access_key, secret_key, token, time, body, unsigned) or
"header=Name:value". stdout: per case "authorization\tx-amz-content-sha256".
"""
import datetime
import sys
from types import SimpleNamespace

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def sign(case):
    now = datetime.datetime.fromtimestamp(int(case["time"]), datetime.timezone.utc).replace(tzinfo=None)
    botocore.auth.get_current_datetime = lambda: now
    creds = Credentials(case["access_key"], case["secret_key"], case.get("token") or None)
    cls = botocore.auth.S3SigV4Auth if case["service"] == "s3" else botocore.auth.SigV4Auth
    auth = cls(creds, case["service"], case["region"])
    req = AWSRequest(method=case["method"], url=case["url"], data=case.get("body", "").encode())
    for name, value in case["headers"]:
        req.headers[name] = value
    if case.get("unsigned"):
        req.context["client_config"] = SimpleNamespace(s3={"payload_signing_enabled": False})
    auth.add_auth(req)
    return "%s\t%s" % (req.headers["Authorization"], req.headers.get("X-Amz-Content-SHA256", ""))


def main():
    case = {"headers": []}
    for line in sys.stdin.read().split("\n"):
        if line == "---":
            print(sign(case))
            case = {"headers": []}
        elif line:
            key, _, value = line.partition("=")
            if key == "header":
                name, _, v = value.partition(":")
                case["headers"].append((name, v))
            else:
                case[key] = value.replace("\\n", "\n")


main()
