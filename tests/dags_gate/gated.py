"""An outer value that a block reads is slow; the expander must not wait for it."""

from __future__ import annotations

import asyncio

from asyncdag.htypes import Collect, Parallelizable


async def discount(release: asyncio.Event, seen: list[str]) -> float:
    seen.append("discount started")
    await release.wait()
    seen.append("discount done")
    return 0.5


async def sku(count: int, seen: list[str], release: asyncio.Event) -> Parallelizable[int]:
    seen.append("expander started")
    release.set()  # only an expander that started before discount finished can open it
    for i in range(count):
        yield i


def price(sku: int, discount: float) -> float:
    return sku * 10 * discount


def total(price: Collect[float]) -> float:
    return sum(price)
