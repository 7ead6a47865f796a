"""W5 CPU-bound items: each burns ``cost`` seconds of CPU (no sleep), returns its item."""

from __future__ import annotations

import time

from asyncdag.htypes import Collect, Parallelizable


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
