"""Async block for the failure tests: item ``fail_at`` raises, the others may hold."""

from __future__ import annotations

import asyncio

from asyncdag.htypes import Collect, CollectStream
from tests.dags_stream.probes import Failure


async def work(items: int, probe: Failure) -> int:
    probe.start()
    if items == probe.fail_at:
        await probe.enough.wait()
        raise ValueError(f"boom at {items}")
    if probe.hold:
        try:
            await probe.never.wait()
        except asyncio.CancelledError:
            probe.on_cancel()
            raise
    return items


def total(work: Collect[int], probe: Failure) -> int:
    probe.calls.hit("total")
    return sum(work)


async def streamed(work: CollectStream[int], probe: Failure) -> int:
    probe.calls.hit("streamed")
    return sum([value async for value in work])
