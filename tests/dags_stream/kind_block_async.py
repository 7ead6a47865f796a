"""The block for the ``kind_*`` expanders, async: item 0's block opens the gate."""

from __future__ import annotations

import asyncio

from asyncdag.htypes import Collect
from tests.dags_stream.probes import Calls, Gate


async def doubled(items: int, gate: Gate, calls: Calls) -> int:
    calls.hit("doubled")
    await asyncio.sleep(0)
    if items == 0:
        gate.set()
    return items * 2


async def total(doubled: Collect[int]) -> int:
    return sum(doubled)


def _reference(n: int) -> dict[str, object]:
    return {"doubled": [2 * i for i in range(n)], "total": sum(2 * i for i in range(n))}
