"""Session tokens: `user | expiry | nonce` and an HMAC over it, for the session cookie.

The HMAC key is the store's `session_key` (made once, kept with the data, so logins
survive a restart) mixed with a digest of the user's current password, so changing or
removing a password ends that user's sessions at once. Revocations (logout) are kept in
this process until the token would have expired anyway.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from router.config.types import BasicAuth, IngestAuth, Secret

COOKIE = "alert_router_session"
TTL = 12 * 3600.0


def reveal(secret: Secret) -> str:
    try:
        return secret.reveal()
    except (OSError, UnicodeDecodeError):
        return ""  # an unreadable password file matches nothing


class Sessions:
    """Issues and checks session tokens; the key is bound once the store is open."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)  # until `bind`: valid for this process only
        self._revoked: dict[str, float] = {}  # nonce → expiry

    def bind(self, key: bytes) -> None:
        self._key = key

    def _mac(self, user: BasicAuth, payload: bytes) -> str:
        password = reveal(user.password)
        key = hmac.new(self._key, hashlib.sha256(password.encode()).digest(),
                       hashlib.sha256).digest()
        return base64.urlsafe_b64encode(hmac.new(key, payload, hashlib.sha256).digest()
                                        ).decode().rstrip("=")

    def issue(self, user: BasicAuth, now: float) -> tuple[str, float]:
        expires = now + TTL
        payload = f"{user.username}\n{int(expires)}\n{secrets.token_urlsafe(12)}".encode()
        body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        return f"{body}.{self._mac(user, payload)}", expires

    def _parse(self, token: str) -> tuple[str, float, str, bytes] | None:
        body = token.partition(".")[0]
        try:
            payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            user, expires, nonce = payload.decode().split("\n")
            return user, float(expires), nonce, payload
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None

    def verify(self, token: str, auth: IngestAuth, now: float) -> str | None:
        """The user a valid, unexpired, unrevoked token names; else None."""
        parsed = self._parse(token)
        if parsed is None:
            return None
        name, expires, nonce, payload = parsed
        mac = token.partition(".")[2]
        for user in auth.basic_auth:
            if hmac.compare_digest(user.username.encode(), name.encode()) and \
                    reveal(user.password) and \
                    hmac.compare_digest(self._mac(user, payload).encode(), mac.encode()):
                return name if expires > now and nonce not in self._revoked else None
        return None

    def revoke(self, token: str, now: float) -> None:
        parsed = self._parse(token)
        if parsed is not None:
            self._revoked[parsed[2]] = parsed[1]
        for nonce in [n for n, exp in self._revoked.items() if exp <= now]:
            del self._revoked[nonce]


