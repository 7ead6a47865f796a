"""W4 for asyncdag, list collector: `Collect[int]` holds every value until the end."""

from __future__ import annotations

from asyncdag.htypes import Collect, Parallelizable


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


async def f(item: int) -> int:
    return item + 1


def total(f: Collect[int]) -> int:
    return sum(f)
