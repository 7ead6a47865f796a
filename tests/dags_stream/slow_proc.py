"""A block that runs for a long time in a worker process and says when it started (through
a multiprocessing manager's event and dict, which can travel to workers)."""

from __future__ import annotations

import os
import time
from typing import Any

from asyncdag.htypes import Collect, Parallelizable


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


def nap(item: int, seconds: float, started: Any, pids: Any) -> int:
    pids[item] = os.getpid()
    started.set()
    time.sleep(seconds)
    return item


def total(nap: Collect[int]) -> int:
    return sum(nap)
