"""Admission: how many runs may be in progress at once, adapted to how late the loop is.

Why: every request runs its dataflow on the server's one event loop. When more work is ready
than one core can do, each loop turn runs longer, and everything on the loop waits for the
turn to end: a health check, a new connection's accept, the next event of a stream. Past the
point where the core is busy, admitting more runs adds no throughput, only that wait (the
loop's *lag*). So the app admits runs up to a limit and queues the rest, oldest first, and
the limit follows the lag:

- a sampler task sleeps ``interval`` (5 ms) again and again and measures how late it wakes;
- woken later than ``target`` (3 ms): the limit shrinks by a fifth (``shrink``; never below
  ``minimum``);
- woken within half the target while requests wait for a turn: it grows by a twentieth
  (``grow``), plus one (never above ``maximum``); an unused limit does not grow, so a burst
  after a quiet spell meets the limit the last busy spell found, not an unbounded one.

A run that waits on I/O costs the loop nothing while it waits: the limit moves with the
loop's lag, not with how many backend calls are in flight. It cannot tell a saturated core
from a burst, though: with 100 ms backend calls and 400 clients (the core about 70% busy, in
bursts), the defaults cost 16-18% of the throughput (1,165-1,170 against 1,388-1,419 req/s)
for a worst lag of 21-27 ms against 24-38 ms. Gentler factors (``shrink=0.9, grow=1.1``)
kept that throughput whole but let the closed-loop worst lag reach 7.4-8.2 ms instead of
4.5-8.2 ms; choose by which your service needs more.

Ownership: the sampler is the app's task (its lifespan starts it beside the lag monitor and
cancels it at shutdown); without it the limit stays where it started. A request owns its turn
from the moment it is granted until its ``async with`` block ends, however it ends; a request
cancelled while it waits gives nothing back and takes nothing (a turn granted to it in the
same instant is passed on to the next waiter).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator, Callable


class Admission:
    """At most ``limit`` runs at once (its whole part: it moves in fractions); the rest wait
    their turn, oldest first.

    >>> admission = Admission(initial=2)
    >>> async def handler():
    ...     async with admission.turn():
    ...         ...  # await dr.aexecute(...)
    """

    def __init__(
        self,
        *,
        initial: float = 64,
        minimum: float = 4,
        maximum: float = 4096,
        target: float = 0.003,
        interval: float = 0.005,
        shrink: float = 0.8,
        grow: float = 1.05,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if not 1 <= minimum <= initial <= maximum:
            raise ValueError(
                f"need 1 <= minimum <= initial <= maximum, got {minimum, initial, maximum}"
            )
        self.limit = float(initial)
        self.minimum = float(minimum)
        self.maximum = float(maximum)
        self.target = target
        self.interval = interval
        self.shrink = shrink
        self.grow = grow
        self.clock = clock
        self.active = 0  # runs holding a turn
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def waiting(self) -> int:
        """Requests waiting for a turn."""
        return sum(1 for f in self._waiting if not f.done())

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold one turn for the body of the ``async with``."""
        if self.active + 1 <= self.limit and not self._waiting:
            self.active += 1
        else:
            waiter = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():  # granted as it was cancelled
                    self._leave()
                raise
        try:
            yield
        finally:
            self._leave()

    def observe(self, lag: float) -> None:
        """One sample of the loop's lateness (seconds): adjust the limit, admit who fits."""
        if lag > self.target:
            self.limit = max(self.minimum, self.limit * self.shrink)
        elif lag < self.target / 2 and self.waiting:
            self.limit = min(self.maximum, self.limit * self.grow + 1)
        self._admit()

    async def run(self) -> None:
        """The sampler: runs until cancelled."""
        clock, interval = self.clock, self.interval
        while True:
            start = clock()
            await asyncio.sleep(interval)
            self.observe(max(0.0, clock() - start - interval))

    def snapshot(self) -> dict[str, float | int]:
        return {"limit": round(self.limit, 1), "active": self.active, "waiting": self.waiting}

    def _leave(self) -> None:
        self.active -= 1
        self._admit()

    def _admit(self) -> None:
        waiting = self._waiting
        while waiting and self.active + 1 <= self.limit:
            waiter = waiting.popleft()
            if not waiter.done():  # a cancelled waiter is skipped
                self.active += 1
                waiter.set_result(None)
