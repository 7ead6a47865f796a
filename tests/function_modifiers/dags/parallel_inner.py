"""A fan-out/fan-in dataflow that parallel_dag reuses with @subdag (asyncdag-only)."""

from __future__ import annotations

import asyncio

from asyncdag.htypes import Collect, Parallelizable


async def item(items: list[int]) -> Parallelizable[int]:
    for x in items:
        await asyncio.sleep(0)
        yield x


async def item_plus(item: int) -> int:
    await asyncio.sleep(0)
    return item + 1


def item_sum(item_plus: Collect[int]) -> int:
    return sum(item_plus)
