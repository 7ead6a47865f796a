"""A sync generator whose items hold until ``release`` is set (on the run's loop)."""

from __future__ import annotations

import asyncio

from asyncdag.htypes import Collect, Parallelizable


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


async def value(item: int, release: asyncio.Event) -> int:
    await release.wait()
    return item


def total(value: Collect[int]) -> int:
    return sum(value)
