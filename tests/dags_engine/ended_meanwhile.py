"""An item whose nodes are still running when another of its nodes ends it (``on_error``).

``sibling`` waits for ``go``, which ``bad`` sets just before it raises under ``on_error("skip")``:
the item ends while ``sibling`` is inside its call. ``inner`` (a sync expander, skipped) fails
and ends its item while ``reader``, a sync streaming collector of ``inner``'s items, is on a
thread or queued for one. Every call that began must end, hooks closed, before ``aexecute``
returns.
"""

from __future__ import annotations

import asyncio
import threading
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


# -- a streaming collector that returns after its item ended, without reading everything ------

#: set by ``fails_late`` just before it raises; ``reads_one`` returns once it is set
ENDED = threading.Event()


def piece(item: int) -> Parallelizable[int]:
    yield from range(10)


def reads_one(piece: CollectStream[int]) -> int:
    for value in piece:
        STARTED.set()
        ENDED.wait(10)  # its item ends meanwhile
        return value  # the other nine items are never read
    return -1


@on_error("skip")
async def fails_late(item: int) -> int:
    while not STARTED.is_set():  # reads_one holds its first value
        await asyncio.sleep(0.001)
    ENDED.set()
    raise LookupError("the item ends while reads_one runs")


#: set by the test's probe once ``reads_one`` has its first value
STARTED = threading.Event()


def after_reading(reads_one: int, fails_late: int) -> int:
    return reads_one + fails_late


def gathered(after_reading: Collect[int]) -> list[int]:
    return list(after_reading)
