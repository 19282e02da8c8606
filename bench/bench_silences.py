"""Silence lookup benchmark: µs per `SilenceIndex.silenced_by` vs a linear scan.

    python bench/bench_silences.py [--silences 1000 5000] [--lookups 20000] [--regex-only 0 0.01]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from router.matchers import parse_matchers
from router.noise.silences import Silence, SilenceIndex

NOW = 1_700_000_000.0


def make_silences(rng: random.Random, count: int, regex_only: float) -> list[Silence]:
    """A plausible mix: most silences pin alertname plus an instance or job; some list hosts
    as a regex of alternatives; a `regex_only` share are true regexes with no usable key
    (those are checked on every lookup)."""
    out = []
    for i in range(count):
        alertname = f"Alert{rng.randrange(200)}"
        roll = rng.random()
        if roll < 0.6:
            text = f'alertname="{alertname}", instance="host{rng.randrange(2000)}:9100"'
        elif roll < 0.85:
            text = f'alertname="{alertname}", job="job{rng.randrange(100)}", env=~"prod|stage"'
        elif roll < 0.95:
            hosts = "|".join(f"host{rng.randrange(2000)}:9100" for _ in range(3))
            text = f'instance=~"{hosts}", severity!="critical"'
        elif roll < 1 - regex_only:
            text = f'team="team{rng.randrange(300)}", severity!="critical"'
        else:
            text = f'instance=~"host{rng.randrange(100)}.*", alertname=~"Alert1.*"'
        start = NOW - rng.choice([3600.0, 60.0, -60.0])
        out.append(Silence(f"s{i}", tuple(parse_matchers(text)), start, start + 7200.0, start,
                           "bench", ""))
    return out


def make_labels(rng: random.Random, count: int) -> list[dict[str, str]]:
    return [
        {
            "alertname": f"Alert{rng.randrange(200)}",
            "instance": f"host{rng.randrange(2000)}:9100",
            "job": f"job{rng.randrange(100)}",
            "env": rng.choice(["prod", "stage", "dev"]),
            "team": f"team{rng.randrange(300)}",
            "severity": rng.choice(["critical", "warning", "info"]),
        }
        for _ in range(count)
    ]


def run(n_silences: int, n_lookups: int, regex_only: float) -> None:
    rng = random.Random(n_silences)
    silences = make_silences(rng, n_silences, regex_only)
    labels = make_labels(rng, n_lookups)
    index = SilenceIndex(silences)

    t0 = time.perf_counter()
    indexed = [index.silenced_by(lab, NOW) for lab in labels]
    t_index = time.perf_counter() - t0

    scan_n = min(n_lookups, max(200, 2_000_000 // n_silences))  # keep the slow path short
    t0 = time.perf_counter()
    scanned = [sorted(s.id for s in silences if s.mutes(lab, NOW)) for lab in labels[:scan_n]]
    t_scan = time.perf_counter() - t0

    assert indexed[:scan_n] == scanned, "index and linear scan disagree"
    muted = sum(1 for ids in indexed if ids)
    us_index = t_index / n_lookups * 1e6
    us_scan = t_scan / scan_n * 1e6
    print(
        f"{n_silences:>7} silences: index {us_index:8.2f} µs/lookup, "
        f"linear {us_scan:10.1f} µs/lookup ({us_scan / us_index:6.0f}x), "
        f"{muted / n_lookups:.1%} of alerts muted"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--silences", type=int, nargs="+", default=[100, 1000, 5000, 20000])
    parser.add_argument("--lookups", type=int, default=20000)
    parser.add_argument("--regex-only", type=float, nargs="+", default=[0.0, 0.01],
                        help="shares of silences without any usable index key")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}")
    for share in args.regex_only:
        print(f"-- {share:.1%} of silences without an index key")
        for n in args.silences:
            run(n, args.lookups, share)


if __name__ == "__main__":
    main()
