"""The two ends of an expansion's stream, as primitives that take callbacks.

- :class:`Pump` advances a blocking iterator (a sync generator) off the loop, in bursts, on a
  bounded pool of threads shared by every expansion of the process.
- :class:`Stream` is what a streaming collector iterates: ``async for`` on the loop, or plain
  ``for`` from the thread a sync collector runs on, in yield or completion order.

Who owns what
-------------
A ``Pump`` belongs to one expansion, which calls :meth:`Pump.run` from its task. The pump
holds a thread of the shared pool only while it has window credit and advances the
generator; starved of credit, it gives the thread back and starts again (one job) when
credit returns. Items reach the loop as they are produced (one wake-up per burst), so a fast
generator is batched and a slow one is delivered item by item.

A ``Stream`` belongs to one collector of one expansion. Its sync iteration asks the loop for
what is ready through the ``from_thread`` callable the run gives it, which fails with the
run's cancellation once the run is over, so a thread iterating a stream never outlives its
run blocked on it.

Bounds
------
A pump produces no item it has no credit for; the pump pool has ``PUMP_THREADS`` threads.

Errors and cancellation
-----------------------
An exception from ``next()`` ends the pump and is raised from ``run()``. Cancelling the task in
``run()`` stops the pump: the generator is closed on a pool thread, by the job in progress
when its ``next()`` returns (never waited for: it may be blocked in user code) or by a close
job.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from asyncdag import htypes
from asyncdag.execution._threads import ThreadPool

__all__ = ["PUMP_POOL", "SKIPPED", "Pump", "SourceFailed", "Stream"]

#: a list slot, or a stream value, of an item that a skip error policy left out
SKIPPED: Any = object()

#: threads shared by the pumps of every expansion of the process
PUMP_THREADS = 64
PUMP_POOL = ThreadPool(PUMP_THREADS, "asyncdag-pump")

_END = object()


class SourceFailed(Exception):
    """The source (the expander's call, or its iterator) raised ``error``."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


def _close(it: Iterator[Any]) -> None:
    close = getattr(it, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # a generator failing while closing must not hide the real error
            pass


class Pump:
    """Advances ``it`` on :data:`PUMP_POOL` while it has credit; ``deliver(item)`` dispatches
    each item on the loop as it arrives.

    Thread side: a *job* calls ``next()`` while there is credit, appending items to a deque
    and waking the loop once per burst (not per item); without credit it gives its thread
    back. Loop side: :meth:`run` drains the deque; :meth:`give` returns credit and starts a
    new job once a slice of the window (``wake_at``) is free, so a starved pump resumes with a
    burst instead of one wake-up per item. Under the pump's lock at most one job exists, so
    the generator is never advanced by two threads at once, and a stop while a job runs is
    carried out by that job (it closes the generator on its thread).
    """

    def __init__(
        self,
        it: Iterator[Any],
        *,
        credits: int,
        deliver: Callable[[Any], Awaitable[None] | None],
        pool: ThreadPool = PUMP_POOL,
    ) -> None:
        self._it = it
        self._deliver = deliver
        self._pool = pool
        self._context = contextvars.copy_context()  # the run's context follows the generator
        self._lock = threading.Lock()
        self._credits = credits
        #: the slice of the window that must be free before a starved pump starts again
        self.wake_at = max(1, credits // 8)
        self._items: deque[Any] = deque()
        self._running = False  # a job exists (queued or on a thread)
        self._scheduled = False  # a wake-up of the loop is on its way
        self._finished = False  # exhausted, failed or closed: no job will run again
        self._stopped = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- the loop's side -----------------------------------------------------------------------

    async def run(self) -> None:
        """Dispatch every item the iterator yields; raises ``SourceFailed`` with what it
        raised. The job advancing the generator is never waited for on the way out."""
        loop = self._loop = asyncio.get_running_loop()
        self._start_job()
        try:
            items, deliver = self._items, self._deliver
            while True:
                # the flag first, then what is there: an item appended after this line asks
                # for a wake-up of its own (the thread's side needs no lock for it)
                self._scheduled = False
                finished = self._finished
                batch = len(items)
                for _ in range(batch):
                    pending = deliver(items.popleft())
                    if pending is not None:
                        await pending
                if finished and not batch:
                    break
                if not batch:
                    self._waiter = loop.create_future()
                    with self._lock:
                        ready = bool(self._items) or self._finished
                    if not ready:
                        await self._waiter
                    self._waiter = None
        finally:
            self._stop()
        if self._error is not None:
            raise SourceFailed(self._error)

    def unused(self) -> int:
        """Credit given to the pump and not spent on an item (once it has ended)."""
        with self._lock:
            return self._credits

    def give(self, n: int = 1) -> None:
        """Credit for ``n`` more items (on the loop)."""
        with self._lock:
            self._credits += n
            start = (
                not self._running
                and not self._finished
                and not self._stopped
                and self._credits >= self.wake_at
            )
            if start:
                self._running = True
        if start:
            self._submit(self._produce)

    def _start_job(self) -> None:
        with self._lock:
            if self._running or self._finished or self._credits <= 0:
                return
            self._running = True
        self._submit(self._produce)

    def _submit(self, job: Callable[[], None]) -> None:
        assert self._loop is not None
        try:
            self._pool.submit(self._loop, job, context=self._context)
        except RuntimeError:  # the pool is closed (interpreter exit)
            with self._lock:
                self._running = False
                self._finished = True

    def _stop(self) -> None:
        with self._lock:
            self._stopped = True
            close = not self._running and not self._finished
            if close:
                self._running = True  # the close job owns the generator now
        if close:
            self._submit(self._close_job)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the thread's side ---------------------------------------------------------------------

    def _produce(self) -> None:
        it, lock, items = self._it, self._lock, self._items
        while True:
            with lock:  # the credit there is, all of it: spent below, item by item
                if self._stopped:
                    break  # closed below, on this thread
                credits = self._credits
                if credits <= 0:
                    self._running = False  # starved: give the thread back
                    return
                self._credits = 0
            while credits and not self._stopped:
                try:
                    item = next(it)
                except StopIteration:
                    self._end(None, credits)  # what found the end, and the rest: not items
                    return
                except BaseException as exc:
                    self._end(exc, credits)
                    return
                credits -= 1
                # deque.append and the flag are atomic: the loop's side resets the flag
                # before it takes what is there, so an item is either taken by a drain
                # under way or announced by a wake-up of its own
                items.append(item)
                if not self._scheduled:
                    self._scheduled = True
                    self._call_loop(self._wake)
            if credits:  # stopped: what is left of it was not spent
                with lock:
                    self._credits += credits
        self._close_job()

    def _close_job(self) -> None:
        _close(self._it)
        self._end(None)

    def _end(self, error: BaseException | None, unspent: int = 0) -> None:
        with self._lock:
            self._credits += unspent
            self._error = error if self._error is None else self._error
            self._finished = True
            self._running = False
        self._call_loop(self._wake)

    def _call_loop(self, fn: Callable[[], None]) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(fn)
        except RuntimeError:  # the loop is closed: the run is over
            pass


def _ignore(i: int) -> None:
    pass


class Stream(htypes.CollectAsCompleted[Any]):
    """What a streaming collector iterates: values of one expansion as they complete.

    ``consumed(i)`` is called once item ``i`` has been handed out (or skipped, or abandoned),
    so the expansion can give its window credit back. ``from_thread(fn)`` runs the coroutine
    function ``fn`` on the loop and returns its result to the calling thread, or raises the
    run's cancellation.
    """

    def __init__(
        self,
        ordered: bool,
        consumed: Callable[[int], None],
        from_thread: Callable[[Callable[[], Awaitable[Any]]], Any],
    ) -> None:
        self.ordered = ordered
        self._consumed = consumed
        self._from_thread = from_thread
        self.buffer: dict[int, Any] = {}
        self.fifo: deque[tuple[int, Any]] = deque()
        self.next_index = 0
        self.total: int | None = None
        self.taken = 0
        self.abandoned = False
        self.waiter: asyncio.Future[None] | None = None

    def detach(self) -> None:
        """The run is over: drop the callback into the expansion, the one reference back
        from a stream to what holds it (a cycle otherwise, freed only by a full collection)."""
        self._consumed = _ignore

    def abandon(self) -> None:
        """The consumer has returned: release what it left, and all that comes later."""
        if self.abandoned:
            return
        self.abandoned = True
        left = [*self.buffer, *(i for i, _ in self.fifo)]
        self.buffer.clear()
        self.fifo.clear()
        for i in left:
            self._consumed(i)

    def skip(self, i: int) -> None:
        """Item ``i`` was left out by a skip policy: never hand it out, never wait for it."""
        self.put(i, SKIPPED)

    def put(self, i: int, value: Any) -> None:
        if self.abandoned:
            self._consumed(i)
            return
        if self.ordered:
            self.buffer[i] = value
        else:
            self.fifo.append((i, value))
        self._wake()

    def close(self, total: int) -> None:
        """No item beyond ``total`` will come."""
        self.total = total
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _take_ready(self) -> tuple[int, Any] | None:
        while True:
            if self.ordered:
                if self.next_index not in self.buffer:
                    return None
                i = self.next_index
                self.next_index += 1
                got = (i, self.buffer.pop(i))
            elif self.fifo:
                got = self.fifo.popleft()
            else:
                return None
            self.taken += 1
            self._consumed(got[0])
            if got[1] is not SKIPPED:
                return got
            # a skipped item: released at once, counted as taken, never handed out

    async def _next(self) -> tuple[bool, Any]:
        while True:
            got = self._take_ready()
            if got is not None:
                return True, got[1]
            if self.total is not None and self.taken >= self.total:
                return False, None
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._aiter()

    async def _aiter(self) -> AsyncIterator[Any]:
        while True:
            more, value = await self._next()
            if not more:
                return
            yield value

    async def _next_batch(self) -> list[Any] | None:
        more, value = await self._next()
        if not more:
            return None
        batch = [value]
        while True:
            got = self._take_ready()
            if got is None:
                return batch
            batch.append(got[1])

    def __iter__(self) -> Iterator[Any]:
        # On the thread a sync collector runs on: fetch what is ready in one round trip to
        # the loop, so the hop is paid per batch, not per value.
        while True:
            batch = self._from_thread(self._next_batch)
            if batch is None:
                return
            yield from batch
