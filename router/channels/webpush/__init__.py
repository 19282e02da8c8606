"""Web Push (VAPID, RFC 8030/8291/8292) to the browsers subscribed to a receiver.

`config` (entries, the `webpush` section, the endpoint allowlist), `payload` (what the
service worker shows), `vapid` (the key pair), `hub` (subscriptions and key, cached over
the store), `channel` (one encrypted POST per subscription). The registry reads
CONFIG_KEY, KEYS, `parse` and `build` from here.
"""

from __future__ import annotations

from router.channels.webpush.channel import WebPushChannel, build
from router.channels.webpush.config import CONFIG_KEY, KEYS, WebPushConfig, parse
from router.channels.webpush.hub import WebPushHub

__all__ = ["CONFIG_KEY", "KEYS", "WebPushChannel", "WebPushConfig", "WebPushHub", "build",
           "parse"]
