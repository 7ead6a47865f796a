"""Map-reduce with async nodes: an async generator, an async block node, an async collector.
Picklable, so it also runs on worker processes (async nodes run on the worker's loop)."""

from __future__ import annotations

import asyncio

from asyncdag.htypes import Collect, Parallelizable


async def item(n: int) -> Parallelizable[int]:
    for i in range(n):
        await asyncio.sleep(0)
        yield i


async def squared(item: int) -> int:
    await asyncio.sleep(0)
    return item * item


def shifted(squared: int, item: int, offset: int) -> int:
    return squared - item + offset


async def total(shifted: Collect[int]) -> int:
    return sum(shifted)


def as_list(shifted: Collect[int]) -> list[int]:
    return list(shifted)


def _reference(n: int, offset: int) -> dict[str, object]:
    values = [i * i - i + offset for i in range(n)]
    return {"total": sum(values), "as_list": values, "shifted": values}
