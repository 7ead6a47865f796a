"""Blocks of one async node that reads only its item: each item runs as one task of its
expansion (``_fanout._Lone``). Items finish out of order; negative items fail: -1 raises,
-2 raises ``CancelledError`` itself, -3 raises a ``BaseException`` that is no node failure
(as a bug would)."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import anyio

from asyncdag import _calls
from asyncdag.htypes import Collect, CollectStream, Parallelizable
from asyncdag.policies import on_error


class Escaped(BaseException):
    """Neither an ``Exception`` nor ``SystemExit``: no error policy takes it."""


#: what each call of a node saw as its current CallInfo, by node
SEEN: dict[str, list[Any]] = {"doubled": [], "listed_doubled": [], "async_doubled": []}


async def _settle(item: int) -> None:
    for _ in range((7 * item) % 5):  # finish out of yield order
        await asyncio.sleep(0)


async def _fail(item: int) -> None:
    if item == -1:
        raise ValueError(f"bad item {item}")
    if item == -2:
        fut = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(fut.cancel)
        await fut
    if item == -3:
        raise Escaped("not a node failure")


def item(items: list[int]) -> Parallelizable[int]:
    yield from items


#: the items ``doubled`` was called with
CALLED: list[int] = []


async def doubled(item: int) -> int:
    SEEN["doubled"].append(_calls.current_call())
    CALLED.append(item)
    await _settle(item)
    await _fail(item)
    return item * 2


def doubled_all(doubled: Collect[int]) -> list[int]:
    return list(doubled)


async def doubled_streamed(doubled: CollectStream[int]) -> list[int]:
    return [v async for v in doubled]


def items_seen(item: Collect[int]) -> list[int]:
    return list(item)


def listed(items: list[int]) -> Parallelizable[int]:
    return list(items)


async def listed_doubled(*, listed: int) -> int:  # keyword-only: called by keyword
    SEEN["listed_doubled"].append(_calls.current_call())
    await _settle(listed)
    return listed * 2


def listed_all(listed_doubled: Collect[int]) -> list[int]:
    return list(listed_doubled)


async def async_item(items: list[int]) -> Parallelizable[int]:
    for i in items:
        yield i


async def async_doubled(async_item: int) -> int:
    SEEN["async_doubled"].append(_calls.current_call())
    await _settle(async_item)
    return async_item * 2


def async_all(async_doubled: Collect[int]) -> list[int]:
    return list(async_doubled)


def kept(items: list[int]) -> Parallelizable[int]:
    yield from items


@on_error("deliver")
async def kept_doubled(kept: int) -> int:
    await _settle(kept)
    await _fail(kept)
    return kept * 2


def kept_all(kept_doubled: Collect[Any]) -> list[Any]:
    return list(kept_doubled)


def skipped(items: list[int]) -> Parallelizable[int]:
    yield from items


@on_error("skip")
async def skipped_doubled(skipped: int) -> int:
    await _settle(skipped)
    await _fail(skipped)
    return skipped * 2


def skipped_all(skipped_doubled: Collect[int]) -> list[int]:
    return list(skipped_doubled)


#: the driver a reentering node runs again (set by the test)
DRIVER: dict[str, Any] = {}


def outer(items: list[int]) -> Parallelizable[int]:
    yield from items


async def reentered(outer: int) -> int:
    result = await DRIVER["dr"].aexecute(["doubled_all"], inputs={"items": [outer, outer + 1]})
    return int(sum(result["doubled_all"]))


def reentered_all(reentered: Collect[int]) -> int:
    return sum(reentered)


#: held items wait here until the test lets them go (set by the test, on its loop)
GATE: dict[str, Any] = {}


def held(items: list[int]) -> Parallelizable[int]:
    yield from items


async def held_item(held: int) -> int:
    GATE["started"] += 1
    await GATE["event"].wait()
    return held


def held_all(held_item: Collect[int]) -> list[int]:
    return list(held_item)


#: set by one item's node: no other item may see it
VAR: contextvars.ContextVar[int | None] = contextvars.ContextVar("lone_var", default=None)
#: each call's own task (kept, so that no id is reused while the test looks)
TASKS: list[Any] = []


def scoped(items: list[int]) -> Parallelizable[int]:
    yield from items


async def scoped_item(scoped: int) -> int:
    if VAR.get() is not None:
        raise AssertionError(f"item {scoped} sees another item's context value {VAR.get()}")
    VAR.set(scoped)
    TASKS.append(asyncio.current_task())
    with anyio.fail_after(5):  # a cancel scope of this task's own
        await _settle(scoped)
    with anyio.move_on_after(0):  # cancelled at once, and only this item
        await asyncio.sleep(1)
    await asyncio.sleep(0)
    return int(VAR.get() or 0)


def scoped_all(scoped_item: Collect[int]) -> list[int]:
    return list(scoped_item)
