"""Async items, one of which ends the process it runs in (``lose`` says which; -1: none)."""

from __future__ import annotations

import asyncio
import os

from asyncdag.htypes import Collect, Parallelizable


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


async def doubled(item: int, lose: int) -> int:
    await asyncio.sleep(0)
    if item == lose:
        os._exit(13)
    return 2 * item


def total(doubled: Collect[int]) -> int:
    return sum(doubled)
