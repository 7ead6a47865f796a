"""Sync blocks (on worker threads) that report how many instances run at once."""

from __future__ import annotations

from asyncdag.htypes import Collect, Parallelizable
from tests.dags_stream.probes import Tracker


def items(n: int) -> Parallelizable[int]:
    yield from range(n)


def held(items: int, tracker: Tracker) -> int:
    tracker.hold_sync()
    return items


def total(held: Collect[int]) -> int:
    return sum(held)
