"""Three nested Parallelizable levels, mixed sync and async, collectors at every level.

outer (sync generator) > middle (async generator) > inner (sync generator); ``leaf`` runs once
per innermost item and reads a broadcast input; each level collects the level below it.
"""

from __future__ import annotations

import asyncio

from asyncdag.htypes import Collect, Parallelizable


def outer(n_outer: int) -> Parallelizable[int]:
    yield from range(n_outer)


async def middle(outer: int, n_middle: int) -> Parallelizable[tuple[int, int]]:
    for j in range(n_middle + outer % 2):  # odd outer items have one more middle item
        await asyncio.sleep(0)
        yield (outer, j)


def inner(middle: tuple[int, int]) -> Parallelizable[tuple[int, int, int]]:
    for k in range(middle[1] + 1):  # middle item j has j + 1 inner items
        yield (*middle, k)


def leaf(inner: tuple[int, int, int], scale: int) -> int:
    a, b, c = inner
    return (a * 100 + b * 10 + c) * scale


async def inner_sum(leaf: Collect[int]) -> int:
    await asyncio.sleep(0)
    return sum(leaf)


def middle_value(inner_sum: int, middle: tuple[int, int]) -> int:
    return inner_sum + middle[1]


def middle_values(middle_value: Collect[int]) -> list[int]:
    return list(middle_value)


def outer_value(middle_values: list[int], outer: int) -> int:
    return sum(middle_values) * (outer + 1)


def total(outer_value: Collect[int]) -> int:
    return sum(outer_value)


def _reference(n_outer: int, n_middle: int, scale: int) -> dict[str, object]:
    """Every node at every level, computed with plain loops (in-block nodes as nested lists)."""
    leaves, inner_sums, middle_value_l, middle_values_l, outer_values = [], [], [], [], []
    for a in range(n_outer):
        leaves_a, inner_sums_a, mv_a = [], [], []
        for b in range(n_middle + a % 2):
            leaves_ab = [(a * 100 + b * 10 + c) * scale for c in range(b + 1)]
            leaves_a.append(leaves_ab)
            inner_sums_a.append(sum(leaves_ab))
            mv_a.append(sum(leaves_ab) + b)
        leaves.append(leaves_a)
        inner_sums.append(inner_sums_a)
        middle_value_l.append(mv_a)
        middle_values_l.append(mv_a)
        outer_values.append(sum(mv_a) * (a + 1))
    return {
        "leaf": leaves,
        "inner_sum": inner_sums,
        "middle_value": middle_value_l,
        "middle_values": middle_values_l,
        "outer_value": outer_values,
        "total": sum(outer_values),
    }
