"""Expanders that fail in each way an expander can: ``gen_<kind>`` with ``kind`` selected
by the node requested (``total_<kind>``)."""

from __future__ import annotations

import asyncio

from asyncdag.htypes import Collect, Parallelizable
from tests.dags_stream.probes import Calls


def sync_gen(calls: Calls) -> Parallelizable[int]:
    yield 0
    yield 1
    raise RuntimeError("sync generator broke after 2 items")


async def async_gen(calls: Calls) -> Parallelizable[int]:
    yield 0
    await asyncio.sleep(0)
    raise RuntimeError("async generator broke after 1 item")


def not_iterable(calls: Calls) -> Parallelizable[int]:
    return 42  # type: ignore[return-value]


async def async_raises(calls: Calls) -> Parallelizable[int]:
    await asyncio.sleep(0)
    raise RuntimeError("async expander failed before returning")


def total_sync_gen(sync_gen: Collect[int], calls: Calls) -> int:
    calls.hit("total")
    return sum(sync_gen)


def total_async_gen(async_gen: Collect[int], calls: Calls) -> int:
    calls.hit("total")
    return sum(async_gen)


def total_not_iterable(not_iterable: Collect[int], calls: Calls) -> int:
    calls.hit("total")
    return sum(not_iterable)


def total_async_raises(async_raises: Collect[int], calls: Calls) -> int:
    calls.hit("total")
    return sum(async_raises)
