"""W3 for asyncdag: an async generator yields ``n`` items ``gap`` seconds apart."""

from __future__ import annotations

import asyncio

from asyncdag.htypes import Collect, Parallelizable


async def item(n: int, gap: float) -> Parallelizable[int]:
    for i in range(n):
        await asyncio.sleep(gap)
        yield i


async def work(item: int, cost: float) -> int:
    await asyncio.sleep(cost)
    return item


def total(work: Collect[int]) -> int:
    return sum(work)
