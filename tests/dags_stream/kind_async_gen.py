"""Expander ``items`` as an async generator that waits until item 0's block has run."""

from __future__ import annotations

from asyncdag.htypes import Parallelizable
from tests.dags_stream.probes import Calls, Gate


async def items(n: int, gate: Gate, calls: Calls) -> Parallelizable[int]:
    calls.hit("items")
    for i in range(n):
        calls.hit("items.next")
        yield i
        if i == 0:
            await gate.wait()  # opened by item 0's block
