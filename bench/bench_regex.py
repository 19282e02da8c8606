"""Regex matcher benchmark: RE2 (what matchers use) vs Python's backtracking `re` (before).

    python bench/bench_regex.py [--budget 2.0] [--matches 200000]

1. The catastrophic pattern `(.*.*.*)*z` on values of growing length with no `z`: the
   old engine's time multiplies with each character (stopped once one value takes more
   than `--budget` seconds); RE2's grows linearly.
2. The everyday cost: µs per full match of a label value on ordinary patterns, the
   matcher's RE2 program against a precompiled `re` pattern (the same anchored match).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from router.matchers import Matcher, MatchOp

BOMB = "(.*.*.*)*z"
ORDINARY = [
    ("web-.*", "web-42"),
    ("prod|staging|dev", "staging"),
    ("db-[0-9]+\\.example\\.com", "db-17.example.com"),
    ("(?i:critical)", "CRITICAL"),  # Python 3.11 refuses a global flag after `^(?:`
]


def _seconds(fn: object, *args: object) -> float:
    start = time.perf_counter()
    fn(*args)  # type: ignore[operator]
    return time.perf_counter() - start


def catastrophic(budget: float) -> None:
    print(f"`{BOMB}` against 'a' * n (no match):")
    print(f"{'n':>8} {'re (old)':>12} {'RE2':>12}")
    old = re.compile(f"^(?:{BOMB})$")
    new = Matcher("bomb", MatchOp.RE, BOMB)
    old_done = False
    for n in (4, 6, 8, 10, 11, 12, 30, 1_000, 100_000):
        value = "a" * n
        old_cell = "-"
        if not old_done:
            spent = _seconds(old.fullmatch, value)
            old_cell = f"{spent * 1e3:.2f} ms"
            old_done = spent > budget
        new_spent = _seconds(new.matches, {"bomb": value})
        print(f"{n:>8} {old_cell:>12} {new_spent * 1e3:>9.3f} ms")


def everyday(matches: int) -> None:
    print(f"\nµs per evaluation ({matches:,} each):")
    print(f"{'pattern':<28} {'re (old)':>10} {'RE2':>10}")
    for pattern, value in ORDINARY:
        old = re.compile(f"^(?:{pattern})$")
        new = Matcher("x", MatchOp.RE, pattern).regex
        assert new is not None
        assert bool(old.fullmatch(value)) == new.fullmatch(value)
        start = time.perf_counter()
        for _ in range(matches):
            old.fullmatch(value)
        old_us = (time.perf_counter() - start) / matches * 1e6
        start = time.perf_counter()
        for _ in range(matches):
            new.fullmatch(value)
        new_us = (time.perf_counter() - start) / matches * 1e6
        print(f"{pattern:<28} {old_us:>10.2f} {new_us:>10.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=2.0,
                    help="stop timing the old engine once one value takes this long (s)")
    ap.add_argument("--matches", type=int, default=200_000)
    args = ap.parse_args()
    catastrophic(args.budget)
    everyday(args.matches)


if __name__ == "__main__":
    main()
