"""Blocks that report how many instances run at once (see ``probes.Tracker``)."""

from __future__ import annotations

from asyncdag.htypes import Collect, Parallelizable
from tests.dags_stream.probes import Tracker


def items(n: int) -> Parallelizable[int]:
    yield from range(n)


async def held(items: int, tracker: Tracker) -> int:
    await tracker.hold()
    return items


def total(held: Collect[int]) -> int:
    return sum(held)
