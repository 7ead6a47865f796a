"""An item whose nodes are still running when another of its nodes ends it (``on_error``).

``sibling`` waits for ``go``, which ``bad`` sets just before it raises under ``on_error("skip")``:
the item ends while ``sibling`` is inside its call. ``inner`` (a sync expander, skipped) fails
and ends its item while ``reader``, a sync streaming collector of ``inner``'s items, is on a
thread or queued for one. Every call that began must end, hooks closed, before ``aexecute``
returns.
"""

from __future__ import annotations

import asyncio
from typing import Any

from asyncdag.htypes import Collect, CollectStream, Parallelizable
from asyncdag.policies import on_error

#: made by the test on the run's loop
GO: dict[str, asyncio.Event] = {}


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


async def sibling(item: int) -> int:
    await GO["go"].wait()
    return item


@on_error("skip")
async def bad(item: int) -> int:
    await asyncio.sleep(0)
    if item == 0:
        GO["go"].set()
        raise LookupError(f"item {item} is bad")
    GO["go"].set()
    return item


async def both(sibling: int, bad: int) -> int:
    return sibling + bad


def total(both: Collect[int]) -> int:
    return sum(both)


@on_error("skip")
def inner(item: int) -> Parallelizable[int]:
    if item == 0:
        raise LookupError("no inner items for item 0")
    return [item, item]


@on_error("skip")
def reader(inner: CollectStream[int]) -> int:
    return sum(inner)


def read(reader: Collect[int]) -> list[int]:
    return list(reader)


__all__: list[Any] = []
