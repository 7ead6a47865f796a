"""Async items that only finish if other items of the same worker run beside them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from asyncdag.htypes import Collect, Parallelizable

_finished: dict[str, set[int]] = {}  # per run token, in each worker process


def item(n: int) -> Parallelizable[int]:
    return list(range(n))  # dispatched in one go: items admitted together travel together


async def fetched(item: int, token: str, others: int, marks: str) -> int:
    done = _finished.setdefault(token, set())
    try:
        if item == 0:  # waits until the others (on the same worker) have finished
            while len(done) < others:
                await asyncio.sleep(0.001)
        elif others < 0:  # hold until cancelled
            Path(marks, f"started-{item}").touch()
            await asyncio.sleep(3600)
        done.add(item)
        return item
    except asyncio.CancelledError:
        Path(marks, f"cancelled-{item}").touch()
        raise


def total(fetched: Collect[int]) -> int:
    return sum(fetched)
