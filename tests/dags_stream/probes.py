"""Instruments a test hands to a dataflow as inputs: gates, counters and meters.

All of them work from the event-loop thread and from worker threads, so the same DAG module can
run its nodes inline, on a thread pool or on the loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any

__all__ = ["Calls", "Chain", "Gate", "Meter", "Tracker"]

#: How long a blocking wait in user code may take before it reports a hang as an error. The
#: tests wrap every run in ``anyio.fail_after``; this bound only frees a stuck worker thread.
THREAD_WAIT = 10.0


class Gate:
    """A one-shot event that threads wait on with ``wait_sync`` and coroutines with ``wait``."""

    def __init__(self, name: str = "gate") -> None:
        self.name = name
        self._flag = threading.Event()
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def set(self) -> None:
        with self._lock:
            self._flag.set()
            waiters, self._waiters = self._waiters, []
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    def is_set(self) -> bool:
        return self._flag.is_set()

    def wait_sync(self, timeout: float = THREAD_WAIT) -> None:
        if not self._flag.wait(timeout):
            raise TimeoutError(f"{self.name} was never opened")

    async def wait(self) -> None:
        event = asyncio.Event()
        with self._lock:
            if self._flag.is_set():
                return
            self._waiters.append((asyncio.get_running_loop(), event))
        await event.wait()


class Calls:
    """Counts calls per node name, and records the thread each call ran on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.threads: dict[str, set[int]] = {}

    def hit(self, name: str) -> None:
        with self._lock:
            self.counts[name] += 1
            self.threads.setdefault(name, set()).add(threading.get_ident())

    def __getitem__(self, name: str) -> int:
        return self.counts[name]


class Chain:
    """Makes items finish in a chosen order: item ``order[k]`` waits for ``order[k-1]``."""

    def __init__(self, order: Iterable[int]) -> None:
        self.order = list(order)
        self.gates = {i: Gate(f"item {i}") for i in self.order}
        self.finished: list[int] = []
        self._lock = threading.Lock()

    def _before(self, i: int) -> Gate | None:
        pos = self.order.index(i)
        return self.gates[self.order[pos - 1]] if pos else None

    def _done(self, i: int) -> None:
        with self._lock:
            self.finished.append(i)
        self.gates[i].set()

    async def finish(self, i: int) -> None:
        before = self._before(i)
        if before is not None:
            await before.wait()
        self._done(i)

    def finish_sync(self, i: int) -> None:
        before = self._before(i)
        if before is not None:
            before.wait_sync()
        self._done(i)


class Meter:
    """How far a generator runs ahead of the collectors: yielded minus consumed, at most.

    ``ahead`` opens once the generator is ``expect_ahead`` items ahead: a collector that waits
    for it before consuming proves that the window lets the generator run that far.
    """

    def __init__(self, expect_ahead: int = 0) -> None:
        self._lock = threading.Lock()
        self.yielded = 0
        self.consumed = 0
        self.max_ahead = 0
        self.expect_ahead = expect_ahead
        self.ahead = Gate(f"generator {expect_ahead} items ahead")

    def on_yield(self) -> None:
        with self._lock:
            self.yielded += 1
            self.max_ahead = max(self.max_ahead, self.yielded - self.consumed)
            if self.max_ahead >= self.expect_ahead:
                self.ahead.set()

    def on_consume(self) -> None:
        with self._lock:
            self.consumed += 1


class Tracker:
    """Counts block instances running at once; the first ``fill`` wait until ``fill`` run.

    Waiting until ``fill`` instances run proves that the limit allows ``fill`` at once (else the
    run hangs and the test's ``fail_after`` fires); ``max_running`` proves it allows no more.
    """

    def __init__(self, fill: int, patience: float | None = None) -> None:
        self.fill = fill
        # with patience, the first instances wait at most that long for ``fill`` to run, then
        # go on: for a limit that must *not* let ``fill`` run at once
        self.patience = patience
        self._lock = threading.Lock()
        self.running = 0
        self.max_running = 0
        self.entered = 0
        self.full = Gate("tracker full")

    def enter(self) -> int:
        with self._lock:
            self.running += 1
            self.entered += 1
            self.max_running = max(self.max_running, self.running)
            if self.running >= self.fill:
                self.full.set()
            return self.entered

    def exit(self) -> None:
        with self._lock:
            self.running -= 1

    async def hold(self) -> Any:
        n = self.enter()
        try:
            if n <= self.fill:
                await self.full.wait()
            for _ in range(3):  # stay a few loop turns, so that instances overlap
                await asyncio.sleep(0)
        finally:
            self.exit()

    def hold_sync(self) -> None:
        n = self.enter()
        try:
            if n <= self.fill and self.patience is not None:
                self.full._flag.wait(self.patience)
            elif n <= self.fill:
                self.full.wait_sync()
        finally:
            self.exit()


class Failure:
    """Drives the failure and cancellation tests.

    Item ``fail_at`` raises once ``wait_started`` items have started (so that others are in
    flight); with ``hold`` the other items wait until cancelled, counting cancellations. The
    generators open ``closed`` in their ``finally``.
    """

    def __init__(self, fail_at: int = -1, *, wait_started: int = 1, hold: bool = False) -> None:
        self.fail_at = fail_at
        self.hold = hold
        self.wait_started = wait_started
        self._lock = threading.Lock()
        self.started = 0
        self.cancelled = 0
        self.enough = Gate(f"{wait_started} items started")
        self.never = Gate("never opened")
        self.closed = Gate("generator closed")
        self.release = Gate("released by the test")
        self.calls = Calls()

    def start(self) -> None:
        with self._lock:
            self.started += 1
            if self.started >= self.wait_started:
                self.enough.set()

    def on_cancel(self) -> None:
        with self._lock:
            self.cancelled += 1
