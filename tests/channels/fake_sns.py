"""What AWS checks of a signed SNS request, for loopback fakes: the SigV4 signature.

`verify_sigv4` recomputes the signature of a recorded request from its signed headers and
the secret key with botocore (as AWS, and moto, do) and names the first difference.
"""

from __future__ import annotations

import re
import urllib.parse

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from .fakes import Recorded

_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                   r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$")


def verify_sigv4(req: Recorded, keys: dict[str, str]) -> tuple[str, str]:
    """(region, service) of a request signed by one of `keys` (access key → secret key);
    AssertionError as AWS's InvalidClientTokenId / SignatureDoesNotMatch."""
    headers = {k.lower(): v for k, v in req.headers.items()}
    found = _AUTH.match(headers.get("authorization", ""))
    assert found is not None, "IncompleteSignature: no SigV4 Authorization header"
    access_key, day, region, service, signed, signature = found.groups()
    assert access_key in keys, "InvalidClientTokenId"
    assert headers["x-amz-date"].startswith(day)
    names = signed.split(";")
    assert {"host", "x-amz-date"} <= set(names), signed
    query = urllib.parse.urlencode(req.query)
    url = f"http://{headers['host']}{req.path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=req.method, url=url, data=req.body,
                         headers={n: headers[n] for n in names if n != "host"})
    request.context["timestamp"] = headers["x-amz-date"]
    auth = SigV4Auth(Credentials(access_key, keys[access_key]), service, region)
    canonical = auth.canonical_request(request)
    expected = auth.signature(auth.string_to_sign(request, canonical), request)
    assert signature == expected, "SignatureDoesNotMatch"
    return region, service
