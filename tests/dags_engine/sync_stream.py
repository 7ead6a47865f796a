"""A sync streaming collector: ``for v in CollectStream`` in a ``def``, which runs on a thread.

``plan`` (an input) says what goes wrong: the collector raises at a value, or an item holds
until the run is cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from asyncdag.htypes import CollectStream, Parallelizable


async def item(n: int) -> Parallelizable[int]:
    for i in range(n):
        yield i


async def value(item: int, plan: dict[str, Any]) -> int:
    if item == plan.get("hold_at"):
        plan["holding"].set()
        await asyncio.sleep(3600)  # until the run is cancelled
    return item


def total(value: CollectStream[int], plan: dict[str, Any]) -> int:
    seen = 0
    for v in value:
        if v == plan.get("fail_at"):
            raise ValueError(f"collector failed at {v}")
        seen += v
    return seen


async def _unused() -> AsyncIterator[int]:  # pragma: no cover - not a node (private)
    yield 0
