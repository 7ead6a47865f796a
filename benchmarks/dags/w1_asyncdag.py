"""W1 for asyncdag: a sync generator yields ``range(n)``; a trivial async item function."""

from __future__ import annotations

from asyncdag.htypes import Collect, Parallelizable


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


async def f(item: int) -> int:
    return item + 1


def total(f: Collect[int]) -> int:
    return sum(f)
