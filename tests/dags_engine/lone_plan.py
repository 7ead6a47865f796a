"""Lone blocks whose items do what a plan says (``PLAN[item]``: ``(kind, turns)``): wait
``turns`` loop turns, then return ``2 * item`` (``"ok"``), raise (``"raise"``), or raise
``CancelledError`` themselves (``"cancel"``). One expander per error policy; each records
its calls and whether its generator was closed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from asyncdag.htypes import Collect, Parallelizable
from asyncdag.policies import on_error

PLAN: dict[int, tuple[str, int]] = {}
CALLS: list[int] = []
#: per expander: "started", "closed"
GENERATORS: dict[str, set[str]] = {}


class Planned(Exception):
    pass


def _source(name: str, items: list[int]) -> Iterator[int]:
    GENERATORS[name] = {"started"}
    try:
        yield from items
    finally:
        GENERATORS[name].add("closed")


async def _act(item: int) -> int:
    CALLS.append(item)
    kind, turns = PLAN[item]
    for _ in range(turns):
        await asyncio.sleep(0)
    if kind == "raise":
        raise Planned(f"item {item}")
    if kind == "cancel":
        fut = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(fut.cancel)
        await fut
    return 2 * item


def failing(items: list[int]) -> Parallelizable[int]:
    yield from _source("failing", items)


async def failing_value(failing: int) -> int:
    return await _act(failing)


def failing_all(failing_value: Collect[int]) -> list[int]:
    return list(failing_value)


def kept(items: list[int]) -> Parallelizable[int]:
    yield from _source("kept", items)


@on_error("deliver")
async def kept_value(kept: int) -> int:
    return await _act(kept)


def kept_all(kept_value: Collect[Any]) -> list[Any]:
    return list(kept_value)


def skipped(items: list[int]) -> Parallelizable[int]:
    yield from _source("skipped", items)


@on_error("skip")
async def skipped_value(skipped: int) -> int:
    return await _act(skipped)


def skipped_all(skipped_value: Collect[int]) -> list[int]:
    return list(skipped_value)
