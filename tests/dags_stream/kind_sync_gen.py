"""Expander ``items`` as a sync generator that blocks until item 0's block has run."""

from __future__ import annotations

from asyncdag.htypes import Parallelizable
from tests.dags_stream.probes import Calls, Gate


def items(n: int, gate: Gate, calls: Calls) -> Parallelizable[int]:
    calls.hit("items")
    for i in range(n):
        calls.hit("items.next")
        yield i
        if i == 0:
            # Opened by item 0's block: if the engine drained the generator before
            # dispatching, this never returns (and times out as an error).
            gate.wait_sync()
