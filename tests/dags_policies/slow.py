"""Nodes under ``timeout(0.05)`` that never finish for item 2 (or for ``lone``).

The async ones wait on an event that is never set. The sync one waits on ``RELEASE`` (set by
the test's teardown, so the abandoned helper thread ends); ``own_timeout`` raises a
``TimeoutError`` of its own, which the policy must leave alone.
"""

from __future__ import annotations

import asyncio
import threading

from asyncdag.htypes import Parallelizable
from asyncdag.policies import timeout

RELEASE = threading.Event()


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


@timeout(0.05)
async def stalled(item: int) -> int:
    if item == 2:
        await asyncio.Event().wait()
    return item


@timeout(0.05)
def sync_stalled(item: int) -> int:
    if item == 2:
        RELEASE.wait(30)
    return item


@timeout(0.05)
async def lone(x: int) -> int:
    await asyncio.Event().wait()
    return x


@timeout(30)
def own_timeout(x: int) -> int:
    raise TimeoutError(f"the server gave up on {x}")
