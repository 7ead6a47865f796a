"""A streaming collector receives values while its generator is still running: the generator
waits after item 0 for a gate that the collector opens when it receives its first value."""

from __future__ import annotations

from asyncdag.htypes import CollectStream, Parallelizable
from tests.dags_stream.probes import Gate


async def items(n: int, gate: Gate) -> Parallelizable[int]:
    for i in range(n):
        yield i
        if i == 0:
            await gate.wait()


def doubled(items: int) -> int:
    return 2 * items


async def running_sum(doubled: CollectStream[int], gate: Gate) -> list[int]:
    sums, total = [], 0
    async for value in doubled:
        total += value
        sums.append(total)
        gate.set()
    return sums


def running_sum_sync(doubled: CollectStream[int], gate: Gate) -> list[int]:
    sums, total = [], 0
    for value in doubled:
        total += value
        sums.append(total)
        gate.set()
    return sums


def _reference(n: int) -> list[int]:
    return [sum(2 * i for i in range(k + 1)) for k in range(n)]
