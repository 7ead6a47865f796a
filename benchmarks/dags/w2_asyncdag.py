"""W2 for asyncdag: each item awaits ``asyncio.sleep(delay)`` (an I/O call)."""

from __future__ import annotations

import asyncio

from asyncdag.htypes import Collect, Parallelizable


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


async def work(item: int, delay: float) -> int:
    await asyncio.sleep(delay)
    return item


def total(work: Collect[int]) -> int:
    return sum(work)
