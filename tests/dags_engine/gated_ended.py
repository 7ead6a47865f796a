"""An expansion whose block reads a value of its item that never comes: the item ends first.

In each ``outer`` item, ``rows``' block reads ``part_total``, so its first instance waits for
it (a gate). For item 0, ``parts`` fails under ``on_error("skip")``: the item ends, and
``part_total`` never runs. ``rows`` must stop then, rather than wait for it forever.
"""

from __future__ import annotations

from asyncdag.htypes import Collect, Parallelizable
from asyncdag.policies import on_error


def outer(n: int) -> Parallelizable[int]:
    yield from range(n)


@on_error("skip")
def parts(outer: int) -> Parallelizable[int]:
    if outer == 0:
        raise LookupError("item 0 has no parts")
    return [outer, outer]


def part_total(parts: Collect[int]) -> int:
    return sum(parts)


def rows(outer: int) -> Parallelizable[int]:
    yield from range(3)


async def row(rows: int, part_total: int) -> int:
    return rows + part_total


def row_total(row: Collect[int]) -> int:
    return sum(row)


def totals(row_total: Collect[int]) -> list[int]:
    return list(row_total)
