"""W5 CPU-bound items for Hamilton: each burns ``cost`` seconds of CPU, returns its item."""

from __future__ import annotations

import time

from hamilton.htypes import Collect, Parallelizable


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


def burn(item: int, cost: float) -> int:
    end = time.process_time() + cost
    spins = 0
    while time.process_time() < end:
        spins += 1
    return item


def total(burn: Collect[int]) -> int:
    return sum(burn)
