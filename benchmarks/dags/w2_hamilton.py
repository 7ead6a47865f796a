"""W2 for Hamilton: each item blocks its thread in ``time.sleep(delay)``."""

from __future__ import annotations

import time

from hamilton.htypes import Collect, Parallelizable


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


def work(item: int, delay: float) -> int:
    time.sleep(delay)
    return item


def total(work: Collect[int]) -> int:
    return sum(work)
