"""Synchronization primitives shared by the engine and the policies (below both of them).

- :class:`SlotLimiter`: a bound on work in flight that holds across threads and event loops
  (an executor's ``max_tasks``, a ``concurrency`` policy). It knows who holds each slot,
  refuses a release by someone who holds none, and reports statistics.
- :class:`Credits`: a counter with one waiter, for one event loop (an expansion's window).
- :class:`Signal`: a level-triggered wake-up for one waiter on one event loop.

None of them polls: a waiter sleeps on a future and is woken by whoever frees what it waits
for. Cancellation is never swallowed: a waiter that is cancelled gives back what it was
granted meanwhile and re-raises.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

__all__ = ["Credits", "LimiterStatistics", "Signal", "SlotLimiter"]


@dataclass(frozen=True)
class LimiterStatistics:
    """A snapshot of a :class:`SlotLimiter`."""

    total: int  #: how many slots there are
    borrowed: int  #: how many are taken
    waiting: int  #: how many acquirers wait for one
    borrowers: int  #: how many distinct borrowers hold at least one


class SlotLimiter:
    """``total`` slots shared by every thread and event loop of the process.

    An executor is shared by runs on different loops (``execute()`` runs each thread's calls on
    that thread's private loop, a web app awaits ``aexecute`` on its own), so its bound cannot
    be an asyncio primitive, which belongs to one loop. Waiters queue in arrival order; a slot
    freed on one loop is handed to a waiter on another with ``call_soon_threadsafe``.

    Every acquisition names its *borrower* (any hashable object: a run, a call token). A
    borrower may hold several slots; :meth:`release` by a borrower that holds none raises
    ``RuntimeError`` (a bug, never silently absorbed), and :meth:`release_all` gives back
    everything one borrower holds (a run that was cut short).

    Example::

        limiter = SlotLimiter(4)
        token = object()
        await limiter.acquire(token)
        try:
            ...
        finally:
            limiter.release(token)
    """

    __slots__ = ("_borrowed", "_free", "_lock", "_waiters", "total")

    def __init__(self, total: int) -> None:
        if total < 1:
            raise ValueError(f"a limiter needs at least one slot, got {total}")
        self.total = total
        self._lock = threading.Lock()
        self._free = total
        self._borrowed: dict[Any, int] = {}
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None], Any]] = deque()

    def __repr__(self) -> str:
        return f"SlotLimiter({self.total}, free={self._free}, waiting={len(self._waiters)})"

    def try_acquire(self, borrower: Any) -> bool:
        """Take a slot for ``borrower`` if one is free now and nobody waits; never blocks."""
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                self._borrowed[borrower] = self._borrowed.get(borrower, 0) + 1
                return True
            return False

    async def acquire(self, borrower: Any) -> None:
        """Wait for a slot for ``borrower`` (from any thread's event loop)."""
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                self._borrowed[borrower] = self._borrowed.get(borrower, 0) + 1
                return
            loop = asyncio.get_running_loop()
            fut: asyncio.Future[None] = loop.create_future()
            entry = (loop, fut, borrower)
            self._waiters.append(entry)
        try:
            await fut
        except asyncio.CancelledError:
            with self._lock:
                try:
                    self._waiters.remove(entry)
                    granted = False
                except ValueError:  # already taken off the queue: granted, or being granted
                    granted = True
            if granted and fut.done() and not fut.cancelled():
                self.release(borrower)  # granted, then cancelled before resuming: give it back
            # (granted but the grant still in flight to our loop: _grant sees the cancel)
            raise

    def release(self, borrower: Any) -> None:
        """Give back one slot ``borrower`` holds; ``RuntimeError`` if it holds none."""
        with self._lock:
            held = self._borrowed.get(borrower, 0)
            if held <= 0:
                raise RuntimeError(
                    f"{borrower!r} released a slot of {self!r} that it does not hold"
                )
            if held == 1:
                del self._borrowed[borrower]
            else:
                self._borrowed[borrower] = held - 1
            if self._waiters:
                self._hand_over()
            else:
                self._free += 1

    def release_all(self, borrower: Any) -> int:
        """Give back every slot ``borrower`` holds; how many that was."""
        with self._lock:
            held = self._borrowed.pop(borrower, 0)
            for _ in range(held):
                self._hand_over()
            return held

    def holds(self, borrower: Any) -> int:
        """How many slots ``borrower`` holds now."""
        with self._lock:
            return self._borrowed.get(borrower, 0)

    def statistics(self) -> LimiterStatistics:
        with self._lock:
            return LimiterStatistics(
                total=self.total,
                borrowed=self.total - self._free,
                waiting=len(self._waiters),
                borrowers=len(self._borrowed),
            )

    def _hand_over(self) -> None:
        # Under the lock: one slot is free; hand it to the first live waiter, or keep it.
        while self._waiters:
            loop, fut, borrower = self._waiters.popleft()
            if fut.cancelled():
                continue
            self._borrowed[borrower] = self._borrowed.get(borrower, 0) + 1
            try:
                loop.call_soon_threadsafe(self._grant, fut, borrower)
            except RuntimeError:  # that loop is closed: its waiter will never run
                self._borrowed[borrower] -= 1
                if not self._borrowed[borrower]:
                    del self._borrowed[borrower]
                continue
            return
        self._free += 1

    def _grant(self, fut: asyncio.Future[None], borrower: Any) -> None:
        if fut.cancelled():
            self.release(borrower)  # the waiter left meanwhile: pass the slot on
        else:
            fut.set_result(None)


class Credits:
    """A counter with at most one waiter, on one event loop (not thread-safe).

    The expansion's window: one credit per item it may still yield. ``take_nowait`` is the
    fast path; ``take`` waits until :meth:`give` returns one.
    """

    __slots__ = ("_waiter", "available")

    def __init__(self, available: int) -> None:
        self.available = available
        self._waiter: asyncio.Future[None] | None = None

    def take_nowait(self) -> bool:
        if self.available > 0:
            self.available -= 1
            return True
        return False

    async def take(self) -> None:
        while self.available <= 0:
            self._waiter = waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        self.available -= 1

    def give(self, n: int = 1) -> None:
        self.available += n
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class Signal:
    """A wake-up for one waiter on one event loop: :meth:`set` wakes (or pre-arms) it.

    Level-triggered: a ``set()`` before ``wait()`` makes the next ``wait()`` return at once;
    ``wait()`` clears it.
    """

    __slots__ = ("_fut", "_set")

    def __init__(self) -> None:
        self._set = False
        self._fut: asyncio.Future[None] | None = None

    def set(self) -> None:
        self._set = True
        fut = self._fut
        if fut is not None and not fut.done():
            fut.set_result(None)

    async def wait(self) -> None:
        if not self._set:
            self._fut = fut = asyncio.get_running_loop().create_future()
            try:
                await fut
            finally:
                self._fut = None
        self._set = False
