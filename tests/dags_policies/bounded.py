"""Block nodes under ``concurrency(2)``: a gauge counts the calls running at once.

``crawled`` (sync) and ``acrawled`` (async) wait inside on a two-party barrier, so two calls
are always running together and a third one admitted would show in the gauge's peak. The
item count must be even. ``peaked`` (for worker processes, where a barrier cannot pair calls
across processes) yields to the loop a few times and returns its process's peak.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

import anyio.to_thread

from asyncdag.htypes import Parallelizable
from asyncdag.policies import concurrency


class Gauge:
    """How many calls are inside, and the most there have been at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.calls = 0

    def __enter__(self) -> None:
        with self._lock:
            self.running += 1
            self.calls += 1
            self.peak = max(self.peak, self.running)

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        with self._lock:
            self.running -= 1


GAUGE = Gauge()
PAIRS = threading.Barrier(2, timeout=10)


def reset() -> None:
    global GAUGE, PAIRS
    GAUGE = Gauge()
    PAIRS = threading.Barrier(2, timeout=10)


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


@concurrency(2)
def crawled(item: int) -> int:
    with GAUGE:
        PAIRS.wait()
    return item


@concurrency(2)
async def acrawled(item: int) -> int:
    with GAUGE:
        await anyio.to_thread.run_sync(PAIRS.wait)
    return item


@concurrency(2)
async def peaked(item: int) -> int:
    with GAUGE:
        for _ in range(5):
            await asyncio.sleep(0)
    return GAUGE.peak
