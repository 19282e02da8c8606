"""AWS for the SNS channel: credentials, Signature Version 4 and SNS's error answers.

Signing is botocore's own `SigV4Auth` (the AWS SDK for Python's signer), not ours: the
canonical request has many corner cases (header folding, URI encoding, session tokens)
that botocore keeps right. Credentials come from the `sigv4` block, or botocore's default
chain (environment, shared files, instance role) and a profile; `role_arn` is assumed with
STS through botocore's refreshing fetcher. botocore's credential calls block (files, HTTP),
so they run in a thread; static keys never leave the event loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import os
import re
import threading
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    Credentials,
    DeferredRefreshableCredentials,
    ReadOnlyCredentials,
)
from botocore.exceptions import BotoCoreError, ClientError
from botocore.session import Session

from router.channels.base import excerpt, reveal
from router.channels.http import Response, classify_http
from router.channels.sns.config import SigV4
from router.errors import DeliveryError, FailureReason

CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
_CODE = re.compile(r"<Code>([^<]*)</Code>")
_MESSAGE = re.compile(r"<Message>([^<]*)</Message>")
_MESSAGE_ID = re.compile(r"<MessageId>([^<]*)</MessageId>")
# SNS answers throttling with HTTP 400: slow down, not a bad request.
_THROTTLED = frozenset({"Throttling", "ThrottlingException", "ThrottledException",
                        "KMSThrottling", "RequestLimitExceeded", "TooManyRequestsException"})
_AUTH = frozenset({"InvalidClientTokenId", "SignatureDoesNotMatch", "AccessDenied",
                   "AccessDeniedException", "AuthorizationError", "ExpiredToken",
                   "IncompleteSignature", "MissingAuthenticationToken",
                   "UnrecognizedClientException", "RequestExpired"})


class AwsCredentials:
    """The credentials (and region) one `sigv4` block resolves to, cached by botocore
    (temporary ones are refreshed by it before they expire)."""

    def __init__(self, cfg: SigV4) -> None:
        self._cfg = cfg
        self._lock = threading.Lock()
        self._source: Any = None  # botocore Credentials (refreshable or not)
        self._region = cfg.region

    async def get(self) -> tuple[ReadOnlyCredentials, str]:
        if self._static and self._region:
            return self._static_credentials(), self._region
        try:
            return await asyncio.to_thread(self._resolve)
        except (BotoCoreError, ClientError) as exc:
            # A missing profile, an unreachable or refusing STS: worth another attempt
            # (the instance role or the trust policy may be fixed meanwhile).
            # botocore's connection errors quote the STS URL: name the error instead.
            text = type(exc).__name__ if "://" in str(exc) else str(exc)
            raise DeliveryError(FailureReason.AUTH, f"cannot get AWS credentials: {text}",
                                retryable=True) from None

    @property
    def _static(self) -> bool:
        return self._cfg.secret_key is not None and not self._cfg.role_arn

    def _static_credentials(self) -> ReadOnlyCredentials:
        """The configured keys, read now: a rotated `secret_key_file` takes effect at once."""
        assert self._cfg.secret_key is not None
        secret = reveal(self._cfg.secret_key, "the sigv4 secret_key_file")
        return ReadOnlyCredentials(self._cfg.access_key, secret, None)

    def _resolve(self) -> tuple[ReadOnlyCredentials, str]:
        with self._lock:
            if self._source is None:
                self._source = self._build()
            frozen = (self._static_credentials() if self._static
                      else self._source.get_frozen_credentials())
        return frozen, self._region

    def _build(self) -> Any:
        """botocore's credentials, and the region from the config, the profile or the
        environment (AWS_REGION), as the AWS SDK that Alertmanager uses resolves them."""
        cfg = self._cfg
        session = Session(profile=cfg.profile or None)
        if cfg.region:
            session.set_config_variable("region", cfg.region)
        # botocore reads AWS_DEFAULT_REGION and the profile; the Go SDK of Alertmanager
        # reads AWS_REGION first, which a migrating deployment may set.
        self._region = (cfg.region or os.environ.get("AWS_REGION")
                        or session.get_config_variable("region") or "")
        if cfg.secret_key is not None:
            source = Credentials(cfg.access_key, self._static_credentials().secret_key)
        else:
            source = session.get_credentials()
        if source is None:
            raise DeliveryError(FailureReason.AUTH, "no AWS credentials: set sigv4 access_key "
                                "and secret_key, a profile, or the environment's",
                                retryable=True)
        if not cfg.role_arn:
            return source
        extra = {"ExternalId": cfg.external_id} if cfg.external_id else {}
        fetcher = AssumeRoleCredentialFetcher(session.create_client, source, cfg.role_arn,
                                              extra_args=extra)
        return DeferredRefreshableCredentials(fetcher.fetch_credentials, "assume-role")


def sign(url: str, body: bytes, creds: ReadOnlyCredentials, region: str,
         now: float) -> dict[str, str]:
    """The headers of a SigV4-signed `POST url` for the SNS service (date, token, auth).

    botocore's SigV4Auth computes the canonical request, string to sign and signature;
    only the headers are assembled here, because `add_auth` logs the canonical request
    (host and all) at debug level and reads the wall clock instead of the app's."""
    stamp = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    headers = {"Content-Type": CONTENT_TYPE, "X-Amz-Date": stamp}
    if creds.token:
        headers["X-Amz-Security-Token"] = creds.token
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    request.context["timestamp"] = stamp
    auth = SigV4Auth(creds, "sns", region)
    canonical = auth.canonical_request(request)
    signature = auth.signature(auth.string_to_sign(request, canonical), request)
    signed = auth.signed_headers(auth.headers_to_sign(request))
    headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={auth.scope(request)}, "
                                f"SignedHeaders={signed}, Signature={signature}")
    return headers


def message_id(text: str) -> str | None:
    found = _MESSAGE_ID.search(text)
    return found.group(1) if found else None


def api_error(response: Response) -> DeliveryError:
    """SNS's `<ErrorResponse><Error><Code>…</Code><Message>…</Message>` as the failure the
    retry policy acts on: throttling is a rate limit, signature and key errors are `auth`."""
    status, headers, text = response
    code_match, message_match = _CODE.search(text), _MESSAGE.search(text)
    code = code_match.group(1) if code_match else ""
    detail = html.unescape(message_match.group(1)) if message_match else text
    message = f"sns Publish failed: HTTP {status}" + (f" {code}" if code else "")
    if detail.strip():
        message += f": {excerpt(detail)}"
    if code in _THROTTLED:
        return DeliveryError(FailureReason.RATE_LIMITED, message, retryable=True)
    if code in _AUTH:
        return DeliveryError(FailureReason.AUTH, message, retryable=False)
    error = classify_http(status if status >= 400 else 500, headers, detail)
    assert error is not None
    return error.with_message(message)
