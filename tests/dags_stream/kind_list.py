"""Expander ``items`` as a sync function returning a list."""

from __future__ import annotations

from asyncdag.htypes import Parallelizable
from tests.dags_stream.probes import Calls, Gate


def items(n: int, gate: Gate, calls: Calls) -> Parallelizable[int]:
    calls.hit("items")
    return list(range(n))
