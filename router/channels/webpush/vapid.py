"""The VAPID key pair (RFC 8292): generated once, kept in the store, never rotated.

A push service binds each subscription to the public key the page subscribed with, so a
new key would silently break every subscription; the private key is a secret (never in a
log, an answer or a repr). Signing uses py-vapid with a fresh claims dict per push:
pywebpush writes `aud` into the dict it is given, and a reused dict sends one push
service's origin to the next (403, pywebpush#79).
"""

from __future__ import annotations

import base64
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

# A push service refuses a token that expires more than 24 h ahead; 12 h leaves room for
# clock skew on either side.
TOKEN_LIFETIME = 12 * 3600


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def generate_pem() -> str:
    """A new P-256 private key, PKCS#8 PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


class VapidKey:
    """The application server's key pair; `public_key` is what `pushManager.subscribe`
    takes as `applicationServerKey` (base64url of the uncompressed P-256 point)."""

    __slots__ = ("_vapid", "public_key")

    def __init__(self, pem: str) -> None:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError("the stored VAPID key is not a P-256 private key")
        self._vapid = Vapid02(key)
        self.public_key = b64url(key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))

    def authorization(self, audience: str, subject: str) -> str:
        """The `Authorization: vapid t=…, k=…` value for a push to `audience` (an origin).

        `exp` is wall-clock time on purpose: the push service checks it against its own
        clock, whatever clock the router runs on."""
        claims = {"sub": subject, "aud": audience, "exp": int(time.time()) + TOKEN_LIFETIME}
        header: str = self._vapid.sign(claims)["Authorization"]
        return header

    def __repr__(self) -> str:
        return f"VapidKey(public_key={self.public_key!r})"
