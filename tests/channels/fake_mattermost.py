"""A loopback fake of Mattermost incoming webhooks that checks what Mattermost checks.

`POST /hooks/<id>`: an unknown hook is refused, the body must be JSON with `text` or
`attachments` ("No text specified"), text within 16,383 characters, a hook locked to its
channel refuses another `channel`, `priority.priority` must be urgent, important or
standard. Errors come as Mattermost's `{"id", "message", "status_code"}`; success is
a plain `ok`. `posts` holds what the channel would show, by channel name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pytest_aiohttp import AiohttpServer

from .vendor_fake import Steps, VendorFake, respond, serve

HOOK = "xr1fquq1sjgqbxbc5y5kbmuzwy"  # the webhook's secret id


def _error(status: int, error_id: str, message: str) -> dict[str, Any]:
    return {"id": error_id, "message": message, "detailed_error": "", "request_id": "rq",
            "status_code": status}


BODIES = {
    400: _error(400, "web.incoming_webhook.text.app_error", "No text specified."),
    403: _error(403, "web.incoming_webhook.channel_locked.app_error",
                "This webhook is not permitted to post to the requested channel."),
    429: _error(429, "api.context.rate_limited.app_error", "Too many requests."),
    500: _error(500, "web.incoming_webhook.general.app_error", "Internal error."),
}


@dataclass
class MattermostFake(VendorFake):
    hooks: dict[str, str] = field(default_factory=lambda: {HOOK: "town-square"})
    locked: bool = False  # the hook may post to its own channel only
    posts: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.bodies = BODIES

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/hooks/{hook}", self.hook)

    async def hook(self, request: web.Request) -> web.Response:
        body = await self.record(request)
        own = self.hooks.get(request.match_info["hook"])
        if own is None:
            return respond((400, _error(400, "web.incoming_webhook.invalid.app_error",
                                        "Invalid webhook.")))
        failure = self.scripted()
        if failure is not None:
            return respond(failure)
        try:
            post = json.loads(body)
        except ValueError:
            return respond((400, _error(400, "web.incoming_webhook.parse.app_error",
                                        "Unable to parse incoming data.")))
        problem = self._problem(post, own)
        if problem is not None:
            return respond(problem)
        self.posts.append({**post, "channel": post.get("channel") or own})
        return respond((200, "ok"))

    def _problem(self, post: Any, own: str) -> tuple[int, Any] | None:
        if not isinstance(post, dict) or not (post.get("text") or post.get("attachments")):
            return 400, BODIES[400]
        if len(str(post.get("text", ""))) > 16383:
            return 400, _error(400, "web.incoming_webhook.text.length.app_error",
                               "Text too long.")
        if self.locked and post.get("channel") not in (None, "", own):
            return 403, BODIES[403]
        priority = post.get("priority")
        if priority is not None and priority.get("priority") not in (
                "urgent", "important", "standard"):
            return 400, _error(400, "api.post.priority.invalid", "Invalid priority.")
        return None


async def start_mattermost(aiohttp_server: AiohttpServer, script: Steps = ()
                           ) -> MattermostFake:
    fake = MattermostFake(script=list(script))
    await serve(aiohttp_server, fake)
    return fake
