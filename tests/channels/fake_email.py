"""A real SMTP server (aiosmtpd) on loopback for the email channel's tests.

It records every accepted message and answers MAIL/RCPT/DATA from scripts such as
`data=["451 4.3.0 Try again later"]`; after a script runs out it answers 250.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

USER = "alerts@example.com"
PASSWORD = "SECRET-smtp-password-9191"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool  # the message travelled over TLS (implicit or after STARTTLS)
    authenticated: bool

    @property
    def message(self) -> EmailMessage:
        msg = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class SmtpFake:
    mail: list[str] = field(default_factory=list)
    rcpt: list[str] = field(default_factory=list)
    data: list[str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    port: int = 0
    server: asyncio.Server | None = None

    # aiosmtpd handler hooks --------------------------------------------------------
    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, options: list[str]) -> str:
        reply = self.mail.pop(0) if self.mail else "250 OK"
        if reply.startswith("250"):
            envelope.mail_from = address
        return reply

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, options: list[str]) -> str:
        reply = self.rcpt.pop(0) if self.rcpt else "250 OK"
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = self.data.pop(0) if self.data else "250 Message accepted for delivery"
        if reply.startswith("250"):
            assert server.transport is not None
            content = envelope.original_content or b""
            tls = server.transport.get_extra_info("ssl_object") is not None
            self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos),
                                          content, tls, bool(session.authenticated)))
        return reply

    def authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                     mechanism: str, auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        self.logins.append(mechanism)
        ok = auth_data.login.decode() == USER and auth_data.password.decode() == PASSWORD
        # handled=False: aiosmtpd answers 535 itself (handled=True would mean we already did).
        return AuthResult(success=ok, handled=False)


async def start_smtp(
    *,
    tls: ssl.SSLContext | None = None,
    implicit_tls: bool = False,
    auth: bool = False,
    mail: list[str] | None = None,
    rcpt: list[str] | None = None,
    data: list[str] | None = None,
) -> SmtpFake:
    """Serve on 127.0.0.1; `tls` offers STARTTLS, or wraps the socket with `implicit_tls`."""
    fake = SmtpFake(mail=list(mail or []), rcpt=list(rcpt or []), data=list(data or []))

    def factory() -> SMTP:
        return SMTP(
            fake,
            hostname="mail.example.test",
            tls_context=None if implicit_tls else tls,
            authenticator=fake.authenticate if auth else None,
            # AUTH is offered only over TLS (aiosmtpd's default); implicit TLS is TLS too.
            auth_require_tls=not implicit_tls,
        )

    loop = asyncio.get_running_loop()
    fake.server = await loop.create_server(factory, "127.0.0.1", 0,
                                           ssl=tls if implicit_tls else None)
    fake.port = fake.server.sockets[0].getsockname()[1]
    return fake


async def stop_smtp(fake: SmtpFake) -> None:
    if fake.server is not None:
        fake.server.close()
        await fake.server.wait_closed()


@dataclass
class SilentServer:
    """Accepts connections and never greets (to provoke client timeouts)."""

    server: asyncio.Server | None = None
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    @property
    def port(self) -> int:
        assert self.server is not None
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> SilentServer:
        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.writers.append(writer)  # keep it open; the client gives up first

        self.server = await asyncio.start_server(hold, "127.0.0.1", 0)
        return self

    async def stop(self) -> None:
        for writer in self.writers:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
