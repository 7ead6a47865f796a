"""The cache's two I/O threads: a writer that commits in batches, a reader that answers in batches.

Store I/O never runs on an event loop, and it must not cost a thread hop per node call, so
calls do not talk to SQLite or the file system themselves: they *submit* to one of these
threads and go on (writes), or wait together with every other call that asked meanwhile
(reads).

Who owns what
    A :class:`BatchThread` belongs to the cache store that made it (one writer and one
    reader per cache directory and process). Its thread is started by the first ``submit``
    and ends on its own after ``idle`` seconds with nothing to do; the next ``submit`` starts
    a new one, so an idle process holds no cache thread. ``close()`` drains what was
    submitted and ends it; at interpreter exit every writer is drained (bounded by
    ``EXIT_TIMEOUT``). In a child made by ``fork``, every thread object is reset (the threads
    did not come along).

Batching
    The writer lets a batch gather for ``linger`` (5 ms) after the first write arrives: a
    submit meanwhile is a deque append, not a wake-up (a wake-up per write made the loop and
    the writer trade the GIL for every item). A flush cuts the linger short. The reader does
    not linger: it answers whatever has arrived as soon as it wakes.

Bounds
    A batch holds at most ``max_batch`` items; items wait in a deque. The writer counts the
    bytes it holds: past ``max_pending_bytes``, ``room()`` makes submitters wait (an async
    caller awaits, a thread blocks) until the commits catch up. Reads hold no payload until
    they are answered; how many wait is bounded by the calls of the runs (window, max_tasks).

Errors
    The handler raising is logged (``asyncdag.caching``) and never ends the thread. A write
    batch that fails is reported to ``on_failure`` (which warns naming the nodes whose results
    were not stored and forgets them), and still counts as done for ``flush``, which therefore
    never hangs. A read batch that fails answers every request in it with the error; callers
    turn that into a miss.

Cancellation
    A caller cancelled while it awaits a read leaves: its future is cancelled and the answer,
    when it comes, is dropped (the value still lands in the memory cache). Writes of a
    cancelled run are still committed: they are results of nodes that finished. ``flush`` is
    an ordinary future: cancelling the wait does not cancel the writes.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from itertools import islice
from operator import itemgetter
from typing import Any, Generic, TypeVar

from asyncdag.caching._events import logger

__all__ = ["EXIT_TIMEOUT", "BatchThread", "Reader", "Request", "WriteOp", "Writer"]

T = TypeVar("T")

_LAST = itemgetter(-1)

#: Seconds the interpreter's exit waits for pending cache writes.
EXIT_TIMEOUT = 10.0

_all_threads: weakref.WeakSet[BatchThread[Any]] = weakref.WeakSet()


class BatchThread(Generic[T]):
    """Runs ``handle(batch)`` on its own thread for whatever was submitted, oldest first."""

    def __init__(
        self,
        name: str,
        handle: Callable[[list[T]], None],
        *,
        max_batch: int = 4096,
        idle: float = 2.0,
        linger: float = 0.0,
    ) -> None:
        self.name = name
        self._handle = handle
        self.max_batch = max_batch
        self.idle = idle
        self.linger = linger
        self._items: deque[T] = deque()
        self._wake = threading.Event()
        self._hurry = threading.Event()
        self._sleeping = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closing = False
        self.batches = 0  # handled so far (for tests and benchmarks)
        _all_threads.add(self)

    @property
    def alive(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def submit(self, item: T) -> None:
        """Queue ``item``; never blocks (except to start the thread)."""
        self._items.append(item)
        if self._sleeping:
            # one wake-up: the thread may take a while to get the GIL back, and every submit
            # meanwhile would set the event again (a lock and a notify each)
            self._sleeping = False
            self._wake.set()
        if self._thread is None:
            self._start()

    def submit_many(self, items: Sequence[T]) -> None:
        self._items.extend(items)
        if self._sleeping:
            self._sleeping = False
            self._wake.set()
        if self._thread is None:
            self._start()

    def urge(self) -> None:
        """Cut the current linger short: something waits for the next batch."""
        self._hurry.set()
        if self._sleeping:
            self._wake.set()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread = thread
                thread.start()

    def _run(self) -> None:
        items = self._items
        while True:
            if not items:
                woke = False
                if not self._closing:
                    self._sleeping = True
                    if not items:  # re-checked after announcing the sleep: no lost wake-up
                        woke = self._wake.wait(self.idle)
                        self._wake.clear()
                    self._sleeping = False
                if not items and (self._closing or not woke):
                    with self._lock:
                        if not items:  # a submit after this sees _thread None and restarts
                            self._thread = None
                            return
                continue
            if self.linger and not self._closing and len(items) < self.max_batch:
                # Let a batch gather: a submit while the thread lingers costs an append, not
                # a wake-up (one wake-up per item made the loop and this thread trade the
                # GIL for every item).
                self._hurry.wait(self.linger)
            self._hurry.clear()
            # (only this thread takes; others only append): popleft in a C loop, as many
            # as there are now, up to max_batch (an item is never None)
            take = min(len(items), self.max_batch)
            batch: list[T] = list(islice(iter(items.popleft, None), take))
            try:
                self._handle(batch)
            except BaseException:  # the thread must outlive a broken handler
                logger.exception("cache %s thread: a batch failed", self.name)
            self.batches += 1

    def close(self, timeout: float | None = None) -> bool:
        """Handle what was submitted, then end the thread. ``False`` if it did not end in time."""
        thread = self._thread
        if thread is None:
            return True
        self._closing = True
        self._wake.set()
        self._hurry.set()
        thread.join(timeout)
        self._closing = False
        return not thread.is_alive()

    def _after_fork(self) -> None:
        self._thread = None
        self._sleeping = False
        self._wake = threading.Event()
        self._hurry = threading.Event()
        self._lock = threading.Lock()
        self._items.clear()


class WriteOp:
    """One thing to store. ``nbytes`` counts toward the writer's bound."""

    __slots__ = ("kind", "nbytes", "payload")

    def __init__(self, kind: str, payload: Any, nbytes: int = 0) -> None:
        self.kind = kind
        self.payload = payload
        self.nbytes = nbytes


#: What a writer commits: a WriteOp, or a bare tuple (a store's cheapest kind of write, which
#: it tells apart itself).
Op = WriteOp | tuple[Any, ...]


class _Barrier(WriteOp):
    """Handled once everything queued before it is: what ``flush`` waits for."""

    __slots__ = ("event", "future", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop | None) -> None:
        super().__init__("barrier", None)
        self.loop = loop
        self.future: asyncio.Future[None] | None = loop.create_future() if loop else None
        self.event = threading.Event()


class Writer:
    """Commits :class:`WriteOp` batches with ``commit(batch)``; ``flush`` waits for them.

    ``commit`` receives the batch without its barriers; ops are committed in the order they
    were submitted, each batch in one call.
    """

    def __init__(
        self,
        name: str,
        commit: Callable[[list[Op]], None],
        on_failure: Callable[[list[Op], BaseException], None],
        *,
        max_batch: int = 8192,
        max_pending_bytes: int = 256 * 1024 * 1024,
        idle: float = 2.0,
        linger: float = 0.005,
    ) -> None:
        self._commit = commit
        self._on_failure = on_failure
        self.max_pending_bytes = max_pending_bytes
        # Two counters, each written by one side, so a submit takes no lock: submitters add
        # (threads racing may drop a count: the bound is a soft one), the writer thread adds
        # what it has handled.
        self.submitted_bytes = 0
        self.handled_bytes = 0
        self._cond = threading.Condition()
        self._room: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self.thread = BatchThread(name, self._handle, max_batch=max_batch, idle=idle, linger=linger)

    def submit(self, op: WriteOp) -> None:
        """Queue ``op``; never blocks."""
        if op.nbytes:
            self.submitted_bytes += op.nbytes
        self.thread.submit(op)

    # -- backpressure ----------------------------------------------------------------------

    @property
    def pending_bytes(self) -> int:
        return self.submitted_bytes - self.handled_bytes

    @property
    def full(self) -> bool:
        return self.submitted_bytes - self.handled_bytes > self.max_pending_bytes

    def wait_room(self, timeout: float | None = None) -> bool:
        """Block (on a thread) until the pending bytes are under the bound."""
        with self._cond:
            return self._cond.wait_for(lambda: not self.full, timeout)

    def room(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
        """A future resolved once the pending bytes are under the bound."""
        fut: asyncio.Future[None] = loop.create_future()
        with self._cond:
            if not self.full:
                fut.set_result(None)
            else:
                self._room.append((loop, fut))
        return fut

    # -- flushing --------------------------------------------------------------------------

    def flushed(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
        """A future resolved once every op submitted before this call is handled."""
        barrier = _Barrier(loop)
        self.thread.submit(barrier)
        self.thread.urge()
        assert barrier.future is not None
        return barrier.future

    def flush(self, timeout: float | None = None) -> bool:
        """Block until every op submitted before this call is handled; ``False`` on timeout."""
        barrier = _Barrier(None)
        self.thread.submit(barrier)
        self.thread.urge()
        return barrier.event.wait(timeout)

    def _handle(self, batch: list[Op]) -> None:
        # One pass over the batch (it holds an op per stored result): a store's own ops may
        # be tuples, its cheapest kind, which it tells apart itself; their last field is
        # the bytes they hold.
        ops: list[Op] = []
        barriers: list[_Barrier] = []
        freed = 0
        if set(map(type, batch)) == {tuple}:  # the common batch, only results: in C loops
            ops = batch
            freed = sum(map(len, map(_LAST, batch)))  # type: ignore[arg-type]
            batch = []
        for op in batch:
            kind = type(op)
            if kind is tuple:
                ops.append(op)
                data = op[-1]  # type: ignore[index]
                if data:
                    freed += len(data)
            elif kind is _Barrier:
                barriers.append(op)  # type: ignore[arg-type]
            else:
                ops.append(op)
                freed += op.nbytes  # type: ignore[union-attr]
        if ops:
            try:
                self._commit(ops)
            except BaseException as exc:
                try:
                    self._on_failure(ops, exc)
                except BaseException:
                    logger.exception("cache writer: reporting a failed batch failed")
        room: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        if freed:
            with self._cond:
                self.handled_bytes += freed
                if not self.full and self._room:
                    room, self._room = self._room, []
                self._cond.notify_all()
        waiting = [(op.loop, op.future) for op in barriers]
        for op in barriers:
            op.event.set()
        _settle([(loop, fut) for loop, fut in waiting if loop is not None and fut is not None])
        _settle(room)

    def close(self, timeout: float | None = None) -> bool:
        return self.thread.close(timeout)


def _settle(waiters: Sequence[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]]) -> None:
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[Any]]] = {}
    for loop, fut in waiters:
        by_loop.setdefault(loop, []).append(fut)
    for loop, futs in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve_all, futs)
        except RuntimeError:  # that loop is closed: nobody waits any more
            pass


def _resolve_all(futs: list[asyncio.Future[Any]]) -> None:
    for fut in futs:
        if not fut.done():
            fut.set_result(None)


class Request:
    """A read and its answer. Made with ``loop`` it is awaited (``await request.future``);
    without, a thread waits with :meth:`wait`."""

    __slots__ = ("error", "event", "future", "kind", "loop", "payload", "result")

    def __init__(self, kind: str, payload: Any, loop: asyncio.AbstractEventLoop | None = None):
        self.kind = kind
        self.payload = payload
        self.loop = loop
        self.result: Any = None
        self.error: BaseException | None = None
        self.future: asyncio.Future[Any] | None = loop.create_future() if loop is not None else None
        self.event: threading.Event | None = None if loop is not None else threading.Event()

    def wait(self, timeout: float | None = None) -> Any:
        assert self.event is not None
        if not self.event.wait(timeout):
            raise TimeoutError(f"cache read {self.kind} did not finish in {timeout} s")
        if self.error is not None:
            raise self.error
        return self.result


class Reader:
    """Answers :class:`Request` batches with ``serve(batch)``, which sets each request's
    ``result`` (or ``error``); one wake-up per event loop per batch delivers the answers."""

    def __init__(
        self,
        name: str,
        serve: Callable[[list[Request]], None],
        *,
        max_batch: int = 2048,
        idle: float = 2.0,
    ) -> None:
        self._serve = serve
        self.thread = BatchThread(name, self._handle, max_batch=max_batch, idle=idle)

    def submit(self, request: Request) -> None:
        self.thread.submit(request)

    def _handle(self, batch: list[Request]) -> None:
        try:
            self._serve(batch)
        except BaseException as exc:
            for req in batch:
                if req.error is None and req.result is None:
                    req.error = exc
        by_loop: dict[asyncio.AbstractEventLoop, list[Request]] = {}
        for req in batch:
            if req.loop is None:
                assert req.event is not None
                req.event.set()
            else:
                by_loop.setdefault(req.loop, []).append(req)
        for loop, reqs in by_loop.items():
            try:
                loop.call_soon_threadsafe(_answer_all, reqs)
            except RuntimeError:
                pass

    def close(self, timeout: float | None = None) -> bool:
        return self.thread.close(timeout)


def _answer_all(reqs: list[Request]) -> None:
    for req in reqs:
        fut = req.future
        if fut is None or fut.done():
            continue
        if req.error is not None:
            fut.set_exception(req.error)
        else:
            fut.set_result(req.result)


_writers: weakref.WeakSet[Writer] = weakref.WeakSet()


def register_for_exit(writer: Writer) -> None:
    _writers.add(writer)


def _drain_at_exit() -> None:
    deadline = time.monotonic() + EXIT_TIMEOUT
    for writer in list(_writers):
        writer.close(max(0.0, deadline - time.monotonic()))


def _reset_after_fork() -> None:
    for thread in list(_all_threads):
        thread._after_fork()
    for writer in list(_writers):
        writer._cond = threading.Condition()
        writer._room = []
        writer.handled_bytes = writer.submitted_bytes


atexit.register(_drain_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
