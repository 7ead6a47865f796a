"""Async items on workers whose failures their own policy delivers: one exception that
makes the trip back as itself, one that cannot be rebuilt in the parent (``case``)."""

from __future__ import annotations

import asyncio

from asyncdag.htypes import Collect, ItemFailure, Parallelizable
from asyncdag.policies import on_error


class Rebuildable(Exception):
    """Comes back as itself."""


class NeedsArgs(Exception):
    """Pickles, but does not unpickle: its ``__init__`` needs arguments its ``args`` lack."""

    def __init__(self, url: str, status: int) -> None:
        super().__init__(f"{url}: HTTP {status}")
        self.status = status


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


@on_error("deliver")
async def fetched(item: int, case: str) -> int:
    await asyncio.sleep(0)
    if item % 3 == 1:
        if case == "needs_args":
            raise NeedsArgs(f"http://site/{item}", 500)
        raise Rebuildable(f"item {item}")
    return item


def results(fetched: Collect[int | ItemFailure]) -> list[int | ItemFailure]:
    return list(fetched)
