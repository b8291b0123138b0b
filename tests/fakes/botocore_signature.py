"""The SigV4 signature botocore computes for a request a fake received.

The AWS fakes (codeartifact.py, cloudtrail.py) check each request's
signature with botocore's own signer, so relrun is held to what AWS's SDKs
sign. Imported by them from this folder (python puts a script's folder on
sys.path).
"""


def expected(handler, body, signed, amz_date, key, service, region):
    """The signature botocore gives the request `handler` holds.

    signed: the SignedHeaders list ("host;x-amz-date"); key: (akid, secret,
    session token or None). -> signature, or (None, name) when a signed
    header is missing from the request.
    """
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    headers = {}
    for name in signed.split(";"):
        values = handler.headers.get_all(name)
        if values is None:
            return None, name
        headers[name] = ",".join(values)
    req = AWSRequest(method=handler.command, url="http://%s%s" % (handler.headers["Host"], handler.path),
                     headers=headers, data=body)
    req.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(*key), service, region)
    return signer.signature(signer.string_to_sign(req, signer.canonical_request(req)), req), None
