"""Timeline harnesses build the router with production's builder (`build_service`).

`ServiceFactory` makes a Service on the test's store and fake clock, with its webhook
channels pointed at loopback fakes and its log channels writing to a StringIO. The
delivery loop runs; timelines step the dispatcher themselves (second by second).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from channels.fakes import Fake, start_fake
from conftest import config_from
from fakeclock import FakeClock
from pytest_aiohttp import AiohttpServer

from router.service import Service, build_service
from router.storage.sqlite import SqliteStore


@dataclass
class Built:
    service: Service
    fakes: list[Fake]
    stream: io.StringIO


@dataclass
class ServiceFactory:
    aiohttp_server: AiohttpServer
    tmp_path: Path
    store: SqliteStore
    clock: FakeClock
    session: aiohttp.ClientSession
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, aiohttp_server: AiohttpServer, tmp_path: Path, store: SqliteStore,
                   clock: FakeClock) -> AsyncIterator[ServiceFactory]:
        async with aiohttp.ClientSession() as session:
            factory = cls(aiohttp_server, tmp_path, store, clock, session)
            try:
                yield factory
            finally:
                for task in factory.tasks:
                    task.cancel()
                await asyncio.gather(*factory.tasks, return_exceptions=True)

    async def __call__(self, text: str, *scripts: list[Any]) -> Built:
        """`URL`, `URL2`, ... in `text` name loopback fakes answering from `scripts`
        (any path below a fake's URL answers)."""
        fakes = [await start_fake(self.aiohttp_server, "webhook", script)
                 for script in scripts or ([],)]
        for i in reversed(range(len(fakes))):
            text = text.replace(f"URL{i + 1 if i else ''}", fakes[i].url)
        stream = io.StringIO()
        service = build_service(config_from(text, self.tmp_path), self.store, clock=self.clock,
                                rng=random.Random(3), log_stream=stream)
        service.http.start(self.session)
        self.tasks.append(asyncio.create_task(service.delivery.run()))
        return Built(service, fakes, stream)
