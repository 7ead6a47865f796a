"""An ``async def`` per-worker resource, read by an async node inside a block.

``aconn`` writes ``built-<pid>-<token>`` when built; ``aused`` reports which process and which
object served each item, and whether the object belongs to the loop the node runs on.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid

from asyncdag.htypes import Collect, Parallelizable
from asyncdag.resources import per_worker
from tests.dags_exec.marks import mark


class AConn:
    """Stands in for a loop-bound client (an aiohttp session): remembers its loop."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.get_running_loop()
        self.lock = threading.Lock()  # unpicklable, like a real client
        self.token = f"{name}-{uuid.uuid4().hex[:12]}"
        self.closed = False


@per_worker
async def aconn(marks: str) -> AConn:
    await asyncio.sleep(0)
    c = AConn("aconn")
    mark(marks, f"built-{os.getpid()}-{c.token}")
    return c


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


async def aused(item: int, aconn: AConn) -> tuple[int, str, bool]:
    await asyncio.sleep(0)
    return os.getpid(), aconn.token, aconn.loop is asyncio.get_running_loop()


def ausage(aused: Collect[tuple[int, str, bool]]) -> list[tuple[int, str, bool]]:
    return list(aused)
