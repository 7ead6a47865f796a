"""Block and slow collectors for the backpressure tests.

The collectors first wait until the generator is as far ahead as the window allows (so the
test knows the window is not smaller than configured), then consume one value per loop turn.
"""

from __future__ import annotations

import asyncio

from asyncdag.htypes import Collect, CollectStream
from tests.dags_stream.probes import Meter


async def work(items: int) -> int:
    return items


async def consume(work: CollectStream[int], meter: Meter) -> int:
    await meter.ahead.wait()
    total = 0
    async for value in work:
        meter.on_consume()
        total += value
        await asyncio.sleep(0)
    return total


def consume_sync(work: CollectStream[int], meter: Meter) -> int:
    meter.ahead.wait_sync()
    total = 0
    for value in work:
        meter.on_consume()
        total += value
    return total


async def slow_work(items: int, meter: Meter) -> int:
    for _ in range(3):
        await asyncio.sleep(0)
    meter.on_consume()  # this item's instance is done: a list collector has taken it
    return items


def listed(slow_work: Collect[int]) -> int:
    return sum(slow_work)
