"""Email: multipart/alternative mail rendered from templates, sent over SMTP.

The whole message is rendered (and stored) without secrets; the resolved mail of a group
threads under the firing one (`In-Reply-To`/`References`), added at send time from the
state the last delivery remembered. The SMTP conversation lives in `smtp`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from typing import TYPE_CHECKING

from markupsafe import escape

from router.channels.base import SendContext, target_id
from router.channels.email.config import EmailConfig
from router.channels.email.smtp import SmtpSender, envelope_address
from router.model import Notification
from router.rendering import Renderer, template_data

if TYPE_CHECKING:  # only the registry's signature: this channel sends without HTTP
    from router.channels.http import HttpClient

MAX_SUBJECT = 250
_MSG_ID = re.compile(r"<[^<>\s]+@[^<>\s]+>")


class EmailChannel:
    kind = "email"

    def __init__(self, cfg: EmailConfig, renderer: Renderer) -> None:
        self.cfg = cfg
        self.send_resolved = cfg.send_resolved
        self.pacing = cfg.pacing
        self.target = target_id("email", cfg.smarthost, cfg.from_)
        self.smtp = SmtpSender(cfg)
        self._renderer = renderer
        # Everything compiles now, so a bad template fails at config load, not at 3 a.m.
        self._headers = [(name, renderer.compile_string(src)) for name, src in cfg.headers]
        self._subject: Callable[..., str] = renderer.macro("default.j2", "subject")
        if cfg.html is not None:
            # Values in HTML are escaped as Alertmanager's html/template does (safeHtml opts out).
            self._html = renderer.compile_string(
                "{% autoescape true %}" + cfg.html + "{% endautoescape %}")
        else:
            self._html = renderer.template(cfg.template or "email.html.j2")
        text = cfg.text
        self._text = (renderer.compile_string(text) if text is not None
                      else renderer.template("email.txt.j2"))

    # --- rendering ----------------------------------------------------------------

    def render(self, n: Notification) -> bytes:
        """The whole message without secrets; threading headers are added at send time."""
        try:
            return self._message(n, *self._render_parts(n))
        except Exception:
            self._renderer.failed(self.kind, n.receiver)
        text = self._renderer.plain_text(n)
        html = f"<html><body><pre>{escape(text)}</pre></body></html>"
        return self._message(n, {"Subject": text.splitlines()[0]}, text + "\n", html)

    def _render_parts(self, n: Notification) -> tuple[dict[str, str], str, str]:
        d = template_data(n)
        headers = {"Subject": self._subject(d)}
        for name, tmpl in self._headers:
            # Later entries of the same name (any case) replace earlier ones.
            headers = {k: v for k, v in headers.items() if k.lower() != name.lower()}
            headers[name] = tmpl.render(d)
        return headers, self._text.render(d).strip() + "\n", self._html.render(d)

    def _message(self, n: Notification, headers: dict[str, str], text: str, html: str) -> bytes:
        cfg = self.cfg
        msg = EmailMessage(policy=SMTP_POLICY)
        rendered = {k.lower(): k for k in headers}
        if "from" not in rendered:
            msg["From"] = cfg.from_
        if "to" not in rendered:
            msg["To"] = ", ".join(cfg.to)
        for name, value in headers.items():
            # A newline in a rendered value would inject headers: fold it to one line.
            flat = " ".join(value.split())
            msg[name] = flat[: MAX_SUBJECT - 1] + "…" if len(flat) > MAX_SUBJECT else flat
        digest = self._digest(n)
        domain = envelope_address(cfg.from_).rpartition("@")[2] or "alert-router"
        msg["Message-ID"] = f"<alert-{digest[:16]}-{int(n.now)}@{domain}>"
        msg["Date"] = format_datetime(dt.datetime.fromtimestamp(n.now, dt.UTC))
        # Plain text first: clients show the last alternative they can render (RFC 2046).
        msg.set_content(text, subtype="plain", cte="quoted-printable")
        msg.add_alternative(html, subtype="html", cte="quoted-printable")
        msg.set_boundary(f"=_alert-router_{digest[16:40]}")
        return msg.as_bytes()

    def _digest(self, n: Notification) -> str:
        """Stable for one notification, so a re-render yields the same message and ids."""
        parts = [n.receiver, n.group_key, str(n.reason), repr(n.now), *self.cfg.to,
                 *(f"{a.fingerprint}:{a.resolved(n.now)}" for a in n.alerts)]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()

    # --- sending ------------------------------------------------------------------

    async def send(self, payload: bytes, ctx: SendContext) -> dict[str, str]:
        root = ctx.state.get("message_id", "")
        if root and _MSG_ID.fullmatch(root):
            payload = f"In-Reply-To: {root}\r\nReferences: {root}\r\n".encode() + payload
        else:
            root = _message_id(payload)
        await self.smtp.send(payload, ctx.timeout)
        # The thread ends with the resolved mail; the group's next firing starts a new one.
        return {"message_id": "" if ctx.all_resolved else root}


def _message_id(payload: bytes) -> str:
    head = payload.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
    found = re.search(r"^Message-ID: (<[^>\r\n]+>)", head, re.MULTILINE | re.IGNORECASE)
    return found.group(1) if found else ""


def build(cfg: EmailConfig, renderer: Renderer, http: HttpClient | None = None) -> EmailChannel:
    """`http` is unused: mail goes over SMTP, one connection per message."""
    if not isinstance(cfg, EmailConfig):
        raise TypeError(f"email channel needs an EmailConfig, got {type(cfg).__name__}")
    return EmailChannel(cfg, renderer)
