"""Items that report their worker's pid; with a barrier, each waits for a partner item that
runs at the same time (in another worker)."""

from __future__ import annotations

import os
from typing import Any

from asyncdag.htypes import Collect, Parallelizable


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


def pid(item: int, barrier: Any) -> int:
    if barrier is not None:
        barrier.wait()
    return os.getpid()


def pids(pid: Collect[int]) -> list[int]:
    return list(pid)
