"""An async generator expander whose items feed an async block node."""

from __future__ import annotations

import asyncio
import os

from asyncdag.htypes import Collect, Parallelizable


async def item(n: int) -> Parallelizable[int]:
    for i in range(n):
        await asyncio.sleep(0)
        yield i


async def cubed(item: int) -> tuple[int, int]:
    await asyncio.sleep(0)
    return item**3, os.getpid()


def total(cubed: Collect[tuple[int, int]]) -> int:
    return sum(v for v, _ in cubed)


def pids(cubed: Collect[tuple[int, int]]) -> list[int]:
    return [p for _, p in cubed]


def _reference(n: int) -> int:
    return sum(i**3 for i in range(n))
