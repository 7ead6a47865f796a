"""Nodes and expanders that raise CancelledError themselves (they awaited a future that
someone else cancelled), while their run is not cancelled."""

from __future__ import annotations

import asyncio

from asyncdag.htypes import Collect, Parallelizable


async def _cancelled_future() -> None:
    fut = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(fut.cancel)
    await fut


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


async def victim(item: int) -> int:
    if item == 2:
        await _cancelled_future()
    return item


def victims(victim: Collect[int]) -> int:
    return sum(victim)


async def top_victim(n: int) -> int:
    await _cancelled_future()
    return n


async def gen_victim(n: int) -> Parallelizable[int]:
    yield 0
    await _cancelled_future()
    yield 1


async def gen_item(gen_victim: int) -> int:
    return gen_victim


def gen_items(gen_item: Collect[int]) -> int:
    return len(gen_item)
