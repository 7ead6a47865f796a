"""W4 for asyncdag, streaming: an ``async def`` collector sums a ``CollectStream``."""

from __future__ import annotations

from asyncdag.htypes import CollectStream, Parallelizable


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


async def f(item: int) -> int:
    return item + 1


async def total(f: CollectStream[int]) -> int:
    s = 0
    async for v in f:
        s += v
    return s
