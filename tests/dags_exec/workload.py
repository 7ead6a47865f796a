"""A block that mixes sync and async nodes and opens a nested Parallelizable.

The same module must give the same result on every executor; on a process executor its block
instances (async nodes, the nested expansion and its collector) run inside a worker, on the
worker's own event loop. ``loop_info`` reports that loop.
"""

from __future__ import annotations

import asyncio
import os
import threading

from asyncdag.htypes import Collect, Parallelizable


def offset(base: int) -> int:
    return base * 10


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


async def fetched(item: int, offset: int) -> int:
    await asyncio.sleep(0)
    return item + offset


def part(item: int) -> Parallelizable[int]:
    yield from range(item % 4)


async def part_value(part: int, fetched: int) -> int:
    await asyncio.sleep(0)
    return (part + 1) * fetched


def part_sum(part_value: Collect[int]) -> int:
    return sum(part_value)


def combined(fetched: int, part_sum: int) -> int:
    return fetched + part_sum


async def loop_info(item: int) -> tuple[int, bool, str]:
    loop = asyncio.get_running_loop()
    return os.getpid(), loop.is_running(), threading.current_thread().name


def total(combined: Collect[int]) -> int:
    return sum(combined)


def combined_list(combined: Collect[int]) -> list[int]:
    return list(combined)


def loop_infos(loop_info: Collect[tuple[int, bool, str]]) -> list[tuple[int, bool, str]]:
    return list(loop_info)


def _reference(n: int, base: int) -> dict[str, object]:
    values = []
    for i in range(n):
        f = i + base * 10
        values.append(f + sum((p + 1) * f for p in range(i % 4)))
    return {"total": sum(values), "combined_list": values}
