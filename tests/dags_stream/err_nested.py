"""Two nested levels; the leaf of item ``fail_at`` (an index pair) raises. ``leaf`` is sync,
``leaf_async`` async; ``inner`` raises itself inside outer item ``gen_fails_in``."""

from __future__ import annotations

import asyncio

from asyncdag.htypes import Collect, Parallelizable


def outer(n: int) -> Parallelizable[int]:
    yield from range(n)


async def inner(outer: int, m: int, gen_fails_in: int) -> Parallelizable[int]:
    for j in range(m):
        if outer == gen_fails_in and j == 2:
            raise LookupError(f"generator of outer item {outer}")
        yield j


def leaf(inner: int, outer: int, fail_at: tuple[int, int]) -> int:
    if (outer, inner) == fail_at:
        raise ValueError(f"leaf {(outer, inner)}")
    return outer * 10 + inner


async def leaf_async(inner: int, outer: int, fail_at: tuple[int, int]) -> int:
    await asyncio.sleep(0)
    if (outer, inner) == fail_at:
        raise ValueError(f"leaf {(outer, inner)}")
    return outer * 10 + inner


def inner_total(leaf: Collect[int]) -> int:
    return sum(leaf)


def inner_total_async(leaf_async: Collect[int]) -> int:
    return sum(leaf_async)


def grand_total(inner_total: Collect[int]) -> int:
    return sum(inner_total)


def grand_total_async(inner_total_async: Collect[int]) -> int:
    return sum(inner_total_async)
