"""Expander ``items``: an async generator, endless when ``limit < 0``; reports its close."""

from __future__ import annotations

import asyncio
import itertools

from asyncdag.htypes import Parallelizable
from tests.dags_stream.probes import Failure


async def items(limit: int, probe: Failure) -> Parallelizable[int]:
    try:
        for i in itertools.count() if limit < 0 else range(limit):
            yield i
            await asyncio.sleep(0)
    finally:
        probe.closed.set()
