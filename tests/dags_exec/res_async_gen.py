"""An async generator per-worker resource: built once per loop, torn down when the driver
closes. Writes ``built-<pid>-<token>`` and ``torn-<pid>-<token>`` markers."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

from asyncdag.htypes import Collect, Parallelizable
from asyncdag.resources import per_worker
from tests.dags_exec.marks import mark
from tests.dags_exec.res_async import AConn


@per_worker
async def session(marks: str) -> AsyncIterator[AConn]:
    c = AConn("session")
    mark(marks, f"built-{os.getpid()}-{c.token}")
    yield c
    await asyncio.sleep(0)
    c.closed = True
    mark(marks, f"torn-{os.getpid()}-{c.token}")


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


async def fetched(item: int, session: AConn) -> tuple[int, str, bool]:
    await asyncio.sleep(0)
    assert not session.closed
    return os.getpid(), session.token, session.loop is asyncio.get_running_loop()


def fetches(fetched: Collect[tuple[int, str, bool]]) -> list[tuple[int, str, bool]]:
    return list(fetched)
