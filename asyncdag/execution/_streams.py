"""The two ends of an expansion's stream, apart from its bookkeeping (``_fanout``).

- ``ThreadPump``: advances a blocking iterator (a sync generator) on a daemon thread of its
  own, bounded by the window; items reach the loop through a deque, with one wake-up per
  burst rather than one per item.
- ``Stream``: what a streaming collector iterates (``async for`` on the loop, or plain ``for``
  from the thread a sync collector runs on), in yield order or completion order.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

from asyncdag import htypes

if TYPE_CHECKING:
    from asyncdag.execution._fanout import Expansion

__all__ = ["SKIPPED", "Stream", "ThreadPump"]

#: a list slot, or a stream value, of an item that a skip error policy left out
SKIPPED: Any = object()


class _PumpThreads:
    """Daemon threads that run pumps, reused: starting an OS thread per expansion costs the
    loop 0.2-0.8 ms (``Thread.start()`` waits for the thread), most of a small run.

    An idle thread leaves after ``IDLE_SECONDS``. A thread is named after the expansion it
    pumps while it does, and ``asyncdag-pump-idle`` between pumps.
    """

    IDLE_SECONDS = 30.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[tuple[str, Callable[[], None]]] = queue.SimpleQueue()
        self._idle = 0

    def run(self, name: str, job: Callable[[], None]) -> None:
        with self._lock:
            self._jobs.put((name, job))
            if self._idle > 0:
                self._idle -= 1
                return
        threading.Thread(target=self._serve, name=name, daemon=True).start()

    def _serve(self) -> None:
        me = threading.current_thread()
        while True:
            try:
                name, job = self._jobs.get(timeout=self.IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if not self._jobs.empty():
                        continue  # a job arrived meanwhile and counts on an idle thread
                    self._idle -= 1
                    return
            me.name = name
            try:
                job()
            finally:
                me.name = "asyncdag-pump-idle"
                with self._lock:
                    self._idle += 1


_PUMP_THREADS = _PumpThreads()


class ThreadPump:
    """Advances a blocking iterator on a thread of its own, bounded by the window.

    Credits are a plain counter under the pump's lock: the loop returns one per consumed item
    and wakes the thread only when it is actually waiting for credit.
    """

    def __init__(self, expansion: Expansion, it: Iterator[Any]) -> None:
        self.expansion = expansion
        self.loop = expansion.run.loop
        self.it = it
        self.credits = expansion.run.window
        self.wake_at = max(1, expansion.run.window // 8)
        self.items: deque[Any] = deque()
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.starved = False  # the thread waits for credit
        self.scheduled = False
        self.finished = False
        self.stopping = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        context = contextvars.copy_context()  # the run's context follows the generator
        _PUMP_THREADS.run(
            f"asyncdag-expander-{expansion.step.name}", lambda: context.run(self._produce)
        )

    def give_credit(self) -> None:
        with self.lock:
            self.credits += 1
            # Wake a starved thread only once a slice of the window is free: it then yields a
            # burst instead of paying a wake-up (a Condition notify, ~3 us) per item.
            if self.starved and self.credits >= self.wake_at:
                self.cond.notify()

    def _produce(self) -> None:
        it, cond = self.it, self.cond
        try:
            while True:
                with cond:
                    while self.credits <= 0 and not self.stopping:
                        self.starved = True
                        cond.wait()
                        self.starved = False
                    if self.stopping:
                        return
                    self.credits -= 1
                try:
                    item = next(it)
                except StopIteration:
                    return
                with cond:
                    self.items.append(item)
                    wake = not self.scheduled
                    self.scheduled = True
                if wake:
                    self._wake_loop()
        except BaseException as exc:
            self.error = exc
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    pass
            with cond:
                self.finished = True
            self._wake_loop()

    def _wake_loop(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self._on_wake)
        except RuntimeError:  # the loop is closed: the run is over
            pass

    def _on_wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def drain(self) -> None:
        expansion = self.expansion
        while True:
            with self.lock:
                batch = list(self.items)
                self.items.clear()
                self.scheduled = False
                finished = self.finished
            for item in batch:
                if not expansion._dispatch_now(item):
                    await expansion._dispatch(item)
            if finished and not batch:
                break
            if not batch:
                self.waiter = self.loop.create_future()
                with self.lock:
                    if self.items or self.finished:
                        continue
                await self.waiter
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify()


class Stream(htypes.CollectAsCompleted[Any]):
    """What a streaming collector iterates: values of one expansion as they complete."""

    def __init__(self, expansion: Expansion, ordered: bool) -> None:
        self.expansion = expansion
        self.ordered = ordered
        self.loop = expansion.run.loop
        self.buffer: dict[int, Any] = {}
        self.fifo: deque[tuple[int, Any]] = deque()
        self.next_index = 0
        self.total: int | None = None
        self.taken = 0
        self.abandoned = False
        self.waiter: asyncio.Future[None] | None = None

    def abandon(self) -> None:
        """The consumer has returned: release what it left, and all that comes later."""
        if self.abandoned:
            return
        self.abandoned = True
        left = [*self.buffer, *(i for i, _ in self.fifo)]
        self.buffer.clear()
        self.fifo.clear()
        for i in left:
            self.expansion.consumed(i)

    def skip(self, i: int) -> None:
        """Item ``i`` was left out by a skip policy: never hand it out, never wait for it."""
        self.put(i, SKIPPED)

    def put(self, i: int, value: Any) -> None:
        if self.abandoned:
            self.expansion.consumed(i)
            return
        if self.ordered:
            self.buffer[i] = value
        else:
            self.fifo.append((i, value))
        self._wake()

    def close(self, total: int) -> None:
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
            if got[1] is not SKIPPED:
                return got
            # a skipped item: released at once, and counted as taken
            self.taken += 1
            self.expansion.consumed(got[0])

    async def _next(self) -> tuple[bool, Any]:
        while True:
            got = self._take_ready()
            if got is not None:
                self.taken += 1
                self.expansion.consumed(got[0])
                return True, got[1]
            if self.total is not None and self.taken >= self.total:
                return False, None
            self.waiter = self.loop.create_future()
            await self.waiter

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
            self.taken += 1
            self.expansion.consumed(got[0])
            batch.append(got[1])

    def __iter__(self) -> Iterator[Any]:
        # Called from the worker thread a sync collector runs on: fetch what is ready in one
        # round trip to the loop, so the hop is paid per batch, not per value.
        while True:
            batch = asyncio.run_coroutine_threadsafe(self._next_batch(), self.loop).result()
            if batch is None:
                return
            yield from batch
