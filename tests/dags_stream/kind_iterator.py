"""Expander ``items`` as a sync function returning a blocking iterator (not a generator)
that blocks, after item 0, until item 0's block has run."""

from __future__ import annotations

from collections.abc import Iterator

from asyncdag.htypes import Parallelizable
from tests.dags_stream.probes import Calls, Gate


class _Blocking:
    def __init__(self, n: int, gate: Gate, calls: Calls) -> None:
        self.n, self.gate, self.calls = n, gate, calls
        self.i = 0

    def __iter__(self) -> Iterator[int]:
        return self

    def __next__(self) -> int:
        if self.i == 1:
            self.gate.wait_sync()  # opened by item 0's block
        if self.i >= self.n:
            raise StopIteration
        self.calls.hit("items.next")
        self.i += 1
        return self.i - 1


def items(n: int, gate: Gate, calls: Calls) -> Parallelizable[int]:
    calls.hit("items")
    return _Blocking(n, gate, calls)
