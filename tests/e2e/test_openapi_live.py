"""schemathesis against a live router: every documented operation, with valid credentials,
answers as GET /api/v1/openapi.json says (status codes, content types, bodies, headers),
never a 5xx, refuses what the document says it refuses, and enforces the auth it declares.

Kept short for the suite (5 examples an operation, a fixed seed;
ALERT_ROUTER_SCHEMATHESIS_EXAMPLES runs more). `positive_data_acceptance` is left out: the
document types the bodies, but the bounds and the semantics (a matcher's grammar, an
alert's non-empty labels, the timestamp range) are the router's, answered 4xx with a path.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Any

import aiohttp

from router.web.routes import ROUTES

from .conftest import RouterFactory

TOKEN = "schemathesis-token-0123456789"


def config(tmp_path: Path) -> dict[str, Any]:
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n", encoding="utf-8")
    return {
        "route": {"receiver": "default", "group_wait": "0s"},
        "receivers": [{"name": "default", "log_configs": [{}]}],
        "server": {"auth": {"bearer_token_file": str(token)}},
        "webpush": {"subject": "mailto:oncall@example.com"},
        "sources": {"ci": {"labels": {"alertname": "PipelineFailed",
                                      "pipeline": "{{ event.pipeline }}"}}},
    }


async def test_schemathesis_finds_nothing_against_a_live_router(
    start_router: RouterFactory, http: aiohttp.ClientSession, tmp_path: Path,
) -> None:
    router = await start_router(config(tmp_path))
    async with http.get(f"{router.url}/api/v1/openapi.json") as resp:
        assert resp.status == 200  # public: no credentials needed to read the document
    examples = os.environ.get("ALERT_ROUTER_SCHEMATHESIS_EXAMPLES", "5")
    argv = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{router.url}/api/v1/openapi.json",
        "--header", f"Authorization: Bearer {TOKEN}",
        "--checks", "all", "--exclude-checks", "positive_data_acceptance",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", examples, "--seed", "1", "--workers", "1",
        "--request-timeout", "10",
        # The live streams never end by themselves (tests/test_stream.py covers them).
        "--exclude-operation-id", "streamEventsSse",
        "--exclude-operation-id", "streamEventsWebSocket",
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "NO_COLOR": "1"},
    )
    out, _ = await proc.communicate()
    report = out.decode(errors="replace")
    assert proc.returncode == 0, f"{report}\n{router.logs()}"
    # Every operation of the document but the document itself (the schema's own URL) and
    # the two live streams.
    tested = re.search(r"Tested: (\d+)", report)
    assert tested is not None, report
    assert int(tested.group(1)) == len(ROUTES) - 3, report
