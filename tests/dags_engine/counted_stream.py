"""An async generator that records what it has produced, and a cheap async block."""

from __future__ import annotations

from asyncdag.htypes import Parallelizable


async def item(n: int, produced: list[int]) -> Parallelizable[int]:
    for i in range(n):
        produced.append(i)
        yield i


async def doubled(item: int) -> int:
    return item * 2
