"""Sends the channel tests share: a firing then resolved group, one alert's failure."""

from __future__ import annotations

from typing import Any

import pytest

from router.channels.base import SendContext
from router.errors import DeliveryError
from router.model import Notification, NotifyReason

from .fakes import T0, sample_alerts, sample_notification

CTX = SendContext(5.0, {}, False)


async def send(channel: Any, n: Notification, state: dict[str, str] | None = None
               ) -> dict[str, str]:
    """Send `n` as the delivery worker would: rendered, with `state` remembered from the
    group's last delivery; the channel's new state."""
    result: dict[str, str] = await channel.send(
        channel.render(n), SendContext(5.0, state or {}, n.all_resolved))
    return result


async def firing_then_resolved(channel: Any, count: int = 1, description: str = ""
                               ) -> dict[str, str]:
    """Send `count` firing alerts (with a `description` annotation unless empty), then
    their resolution; the firing send's state."""
    firing = (sample_alerts(count, description=description) if description
              else sample_alerts(count))
    state: dict[str, str] = await channel.send(channel.render(sample_notification(firing)),
                                               CTX)
    resolved = sample_notification(sample_alerts(count, ends=T0 + 30),
                                   NotifyReason.ALL_RESOLVED)
    await channel.send(channel.render(resolved), CTX)
    return state


async def failure(channel: Any) -> DeliveryError:
    """The DeliveryError of sending one firing alert (the test fails without one)."""
    with pytest.raises(DeliveryError) as info:
        await channel.send(channel.render(sample_notification(sample_alerts(1))), CTX)
    return info.value
