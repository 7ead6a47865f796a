"""W3 for Hamilton: a sync generator (Hamilton has no async ones) sleeping ``gap`` per item."""

from __future__ import annotations

import time

from hamilton.htypes import Collect, Parallelizable


def item(n: int, gap: float) -> Parallelizable[int]:
    for i in range(n):
        time.sleep(gap)
        yield i


def work(item: int, cost: float) -> int:
    time.sleep(cost)
    return item


def total(work: Collect[int]) -> int:
    return sum(work)
