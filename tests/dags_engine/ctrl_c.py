"""Items that mark their start in a directory, then (``slow``) take a long time."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from asyncdag.htypes import Collect, Parallelizable


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


def _mark(marks: str, item: int) -> None:
    Path(marks, f"start-{item}-{os.getpid()}-{time.monotonic_ns()}").touch()


async def value(item: int, marks: str, slow: bool) -> int:
    _mark(marks, item)
    if slow:
        await asyncio.sleep(120)
    return item


def sync_value(value: int, marks: str, slow: bool) -> int:
    return value


def total(sync_value: Collect[int]) -> int:
    return sum(sync_value)
