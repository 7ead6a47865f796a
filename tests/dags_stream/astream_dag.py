"""For astream: the generator waits after item 0 until the *consumer of astream* has seen an
event, so events must flow while the generator runs. ``doubled`` is sync (its block runs in
one thread hop), ``tripled`` async."""

from __future__ import annotations

from asyncdag.htypes import Collect, Parallelizable
from tests.dags_stream.probes import Gate


async def items(n: int, gate: Gate) -> Parallelizable[int]:
    for i in range(n):
        yield i
        if i == 0:
            await gate.wait()


def doubled(items: int) -> int:
    return 2 * items


async def tripled(items: int) -> int:
    return 3 * items


def total(doubled: Collect[int], tripled: Collect[int]) -> int:
    return sum(doubled) + sum(tripled)


def _reference(n: int) -> dict[str, object]:
    return {
        "doubled": [2 * i for i in range(n)],
        "tripled": [3 * i for i in range(n)],
        "total": 5 * sum(range(n)),
    }
