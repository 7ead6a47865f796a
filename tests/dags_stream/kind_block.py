"""The block for the ``kind_*`` expanders, all sync: item 0's block opens the gate."""

from __future__ import annotations

from asyncdag.htypes import Collect
from tests.dags_stream.probes import Calls, Gate


def doubled(items: int, gate: Gate, calls: Calls) -> int:
    calls.hit("doubled")
    if items == 0:
        gate.set()
    return items * 2


def total(doubled: Collect[int]) -> int:
    return sum(doubled)


def _reference(n: int) -> dict[str, object]:
    return {"doubled": [2 * i for i in range(n)], "total": sum(2 * i for i in range(n))}
