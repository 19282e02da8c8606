"""Fuzzing every endpoint (issue 11, "load, chaos and fuzz suites"): hypothesis-generated
requests (shapes, types, sizes, encodings, dates, regexes, template syntax, ids) against the
real app. For every request: no 5xx, every error a JSON body; after the run the process
still takes an alert and delivers it. See tests/fuzz/README.md for the figures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from . import strategies as S
from .harness import DERANDOMIZE, EXAMPLES, Harness

CONFIG = """
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
  routes:
    - matchers: ['severity=~"crit.*|😀"']
      receiver: hook
      group_by: [alertname, severity]
      continue: true
    - matchers: ['service!~"(db|web)-.*"', 'le="0.5"']
      receiver: quiet
receivers:
  - name: hook
    webhook_configs:
      - url: HOOK_URL
        send_resolved: true
  - name: quiet
    webpush_configs: [{}]
webpush:
  subject: mailto:oncall@example.com
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [alertname]
sources:
  ev:
    labels:
      alertname: "{{ event.name }}"
      severity: "{{ event.severity | default('') }}"
      host: "{{ event.host.name if event.host is mapping else event.host | default('') }}"
    annotations:
      summary: "{{ event.message | default('') }}"
      count: "{{ (event.count | default(0)) + 1 }}"
    status: "{{ event.status | default('firing') }}"
    starts_at: "{{ event.at | default('') }}"
    ends_at: "{{ event.until | default('') }}"
    generator_url: "{{ event.url | default('') }}"
"""

# One app for all examples of a test (the Harness is built once, outside @given, on
# purpose: the process lives across examples as a real one would). No health checks:
# big bodies and slow reloads are the point.
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=DERANDOMIZE,
                suppress_health_check=list(HealthCheck), print_blob=True)
TIMEOUT = max(60, EXAMPLES * 2)


def fuzz(tmp_path: Path, name: str, requests: st.SearchStrategy[S.Req]) -> None:
    with Harness(tmp_path, CONFIG) as h:
        @FUZZ
        @given(st.lists(requests, min_size=1, max_size=6))
        def run(reqs: list[S.Req]) -> None:
            h.run(h.send_all(reqs))

        run()
        h.run(h.check_delivering())
        summary = h.report(name)
    assert summary["5xx"] == 0


@pytest.mark.timeout(TIMEOUT)
def test_fuzz_ingest(tmp_path: Path) -> None:
    """API v2 alert arrays, Alertmanager webhook v4 payloads and mapped events."""
    fuzz(tmp_path, "ingest", S.ingest_requests())


@pytest.mark.timeout(TIMEOUT)
def test_fuzz_silences_and_queries(tmp_path: Path) -> None:
    """Postable silences (matchers, regexes, dates), GET filters and ids in paths; alerts
    are ingested alongside so that filters and silences have something to match."""
    fuzz(tmp_path, "silences+queries", st.one_of(S.silence_requests(), S.ingest_requests()))


@pytest.mark.timeout(TIMEOUT)
def test_fuzz_raw_bodies(tmp_path: Path) -> None:
    """Raw bytes (invalid UTF-8, deep nesting, huge numbers) with any content type."""
    fuzz(tmp_path, "raw", st.one_of(S.raw_request(), S.query_requests()))


@pytest.mark.timeout(TIMEOUT)
def test_fuzz_webpush(tmp_path: Path) -> None:
    """Browser subscriptions (endpoints outside the allowlist, bad keys, unknown receivers),
    unsubscribes and the key, with alerts ingested alongside."""
    fuzz(tmp_path, "webpush", st.one_of(S.webpush_requests(), S.ingest_requests()))


@pytest.mark.timeout(TIMEOUT)
def test_fuzz_source_templates(tmp_path: Path) -> None:
    """Template syntax: a `sources:` entry of fuzzed Jinja loaded with /-/reload (200 or a
    400 naming the problem), then events of any shape mapped through it (202 or 4xx)."""
    with Harness(tmp_path, CONFIG) as h:
        @FUZZ
        @given(S.source_config(), st.lists(S.template_events(), min_size=1, max_size=4))
        def run(source: dict[str, Any], events: list[S.Req]) -> None:
            # JSON is YAML: the fuzzed templates go in as JSON strings, quoting and all.
            text = h.config_text + f"  fz: {json.dumps(source)}\n"
            h.config_path.write_text(text, encoding="utf-8")
            reload = S.Req("POST /-/reload", "POST", "/-/reload")
            if h.run(h.send(reload)) == 200:
                h.run(h.send_all(events))

        run()
        h.run(h.check_delivering())
        summary = h.report("templates")
    assert summary["5xx"] == 0
