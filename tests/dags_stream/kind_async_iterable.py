"""Expander ``items`` as an async function returning an async iterable (not a generator)
that waits, after item 0, until item 0's block has run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from asyncdag.htypes import Parallelizable
from tests.dags_stream.probes import Calls, Gate


class _Source:
    def __init__(self, n: int, gate: Gate, calls: Calls) -> None:
        self.n, self.gate, self.calls = n, gate, calls
        self.i = 0

    def __aiter__(self) -> AsyncIterator[int]:
        return self

    async def __anext__(self) -> int:
        if self.i == 1:
            await self.gate.wait()  # opened by item 0's block
        if self.i >= self.n:
            raise StopAsyncIteration
        self.calls.hit("items.next")
        self.i += 1
        return self.i - 1


async def items(n: int, gate: Gate, calls: Calls) -> Parallelizable[int]:
    calls.hit("items")
    await asyncio.sleep(0)
    return _Source(n, gate, calls)
