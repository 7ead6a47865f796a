"""The two ends of an expansion's stream, apart from its bookkeeping (``_fanout``).

- ``ThreadPump``: advances a blocking iterator (a sync generator) on a daemon thread of its
  own, bounded by the window; items reach the loop through a deque, with one wake-up per
  burst rather than one per item.
- ``Stream``: what a streaming collector iterates (``async for`` on the loop, or plain ``for``
  from the thread a sync collector runs on), in yield order or completion order.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from asyncdag import htypes

if TYPE_CHECKING:
    from asyncdag.execution._fanout import Expansion

__all__ = ["SKIPPED", "Stream", "ThreadPump"]

#: a list slot, or a stream value, of an item that a skip error policy left out
SKIPPED: Any = object()


class ThreadPump:
    """Advances a blocking iterator on its own thread, bounded by the window."""

    def __init__(self, expansion: Expansion, it: Iterator[Any]) -> None:
        self.expansion = expansion
        self.loop = expansion.run.loop
        self.it = it
        self.credit = threading.Semaphore(expansion.run.window)
        self.items: deque[Any] = deque()
        self.lock = threading.Lock()
        self.scheduled = False
        self.finished = False
        self.error: BaseException | None = None
        self.stopping = threading.Event()
        self.waiter: asyncio.Future[None] | None = None
        self.thread = threading.Thread(
            target=self._produce, name=f"asyncdag-expander-{expansion.step.name}", daemon=True
        )
        self.thread.start()

    def _produce(self) -> None:
        it, stopping = self.it, self.stopping
        try:
            while not stopping.is_set():
                while not self.credit.acquire(timeout=0.05):
                    if stopping.is_set():
                        return
                if stopping.is_set():
                    return
                try:
                    item = next(it)
                except StopIteration:
                    return
                with self.lock:
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
            with self.lock:
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
        self.stopping.set()


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
