"""Expander ``items`` for the backpressure tests: an async generator that reports each yield."""

from __future__ import annotations

from asyncdag.htypes import Parallelizable
from tests.dags_stream.probes import Meter


async def items(n: int, meter: Meter) -> Parallelizable[int]:
    for i in range(n):
        meter.on_yield()
        yield i
