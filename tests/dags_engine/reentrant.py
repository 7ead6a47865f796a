"""Nodes that run their own driver again, from a block that holds an executor slot."""

from __future__ import annotations

from typing import Any

from asyncdag.htypes import Collect, Parallelizable


def outer(n: int) -> Parallelizable[int]:
    yield from range(n)


async def inner_total(outer: int, dr: Any) -> int:
    result = await dr.aexecute(["small_total"], inputs={"m": 3, "base": outer})
    return int(result["small_total"])


def inner_total_sync(outer: int, dr: Any) -> int:
    result = dr.execute(["small_total"], inputs={"m": 3, "base": outer})
    return int(result["small_total"])


def grand_total(inner_total: Collect[int]) -> int:
    return sum(inner_total)


def grand_total_sync(inner_total_sync: Collect[int]) -> int:
    return sum(inner_total_sync)


def small(m: int) -> Parallelizable[int]:
    yield from range(m)


async def small_value(small: int, base: int) -> int:
    return base + small


def small_total(small_value: Collect[int]) -> int:
    return sum(small_value)
