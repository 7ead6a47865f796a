"""A sync block and an async block side by side, for hooks on every executor."""

from __future__ import annotations

import asyncio

from asyncdag.htypes import Collect, Parallelizable


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


def parse(item: int) -> int:
    return item + 1


def measure(parse: int) -> int:
    return parse * 2


async def fetch(item: int) -> int:
    await asyncio.sleep(0)
    return item


async def digest(fetch: int) -> int:
    return fetch + 1


def sync_total(measure: Collect[int]) -> int:
    return sum(measure)


def async_total(digest: Collect[int]) -> int:
    return sum(digest)
