"""A dataflow run from notebook cells: fan out, fan in; one node that fails, one that waits
until it is cancelled (and says so in a file the test can see from outside the kernel)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from asyncdag.htypes import Collect, Parallelizable

CANCELLED: list[int] = []


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


async def squared(item: int) -> int:
    await asyncio.sleep(0)
    return item * item


def total(squared: Collect[int]) -> int:
    return sum(squared)


def broken(total: int) -> int:
    raise ValueError(f"cannot use {total}")


async def held(item: int, marker: str) -> int:
    Path(f"{marker}.{item}").write_text("started")
    try:
        await asyncio.Event().wait()  # only a cancellation ends this
    except asyncio.CancelledError:
        CANCELLED.append(item)
        raise
    return item


def all_held(held: Collect[int]) -> int:
    return len(held)
