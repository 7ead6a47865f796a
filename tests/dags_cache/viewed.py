"""A DAG for ``dr.cache.view_run`` and the per-run inspection surface: one node of each
behaviour, a block whose items partly hit on the second run, a collector."""

from __future__ import annotations

from asyncdag.function_modifiers import cache
from asyncdag.htypes import Collect, Parallelizable


def base(x: int) -> int:
    return x + 1


@cache(behavior="disable")
def stamp(x: int) -> int:
    return x


@cache(behavior="recompute")
def fresh(x: int) -> int:
    return x % 2


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


async def scaled(item: int, base: int) -> int:
    return item * base


def total(scaled: Collect[int], stamp: int, fresh: int) -> int:
    return sum(scaled) + stamp + fresh
