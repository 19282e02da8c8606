"""The metric families every router exports: build info and the standard collectors."""

from __future__ import annotations

import platform

from prometheus_client import CollectorRegistry, generate_latest

from router import __version__
from router.buildinfo import BuildInfo
from router.metrics import Metrics


def test_build_info_and_the_standard_process_and_python_families() -> None:
    registry = CollectorRegistry()
    Metrics(registry, BuildInfo("1.2.3", "abc123", "3.11.9"))
    assert registry.get_sample_value(
        "alert_router_build_info",
        {"version": "1.2.3", "revision": "abc123", "python": "3.11.9"}) == 1.0
    text = generate_latest(registry).decode()
    for family in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                   "process_start_time_seconds", "process_open_fds", "python_info",
                   "python_gc_objects_collected_total"):
        assert f"\n{family}" in text, family


def test_build_info_defaults_to_the_running_build() -> None:
    registry = CollectorRegistry()
    Metrics(registry)
    [sample] = [s for f in registry.collect() for s in f.samples
                if s.name == "alert_router_build_info"]
    assert sample.labels["version"] == __version__
    assert sample.labels["python"] == platform.python_version()
    assert sample.labels["revision"]


def test_two_routers_in_one_process_have_their_own_registries() -> None:
    # No global registry: a second Metrics (tests, two apps) does not collide.
    Metrics(CollectorRegistry())
    Metrics(CollectorRegistry())
