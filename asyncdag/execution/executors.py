"""Executors: where a run's tasks execute.

A *task* is one block instance (one item of a Parallelizable with its downstream nodes), or one
node outside any block. The driver routes outer nodes to the *local* executor and block
instances to the *remote* one (Hamilton's names), both set on the Builder.

- :class:`AsyncioExecutor` (the default): tasks are coroutines on the run's event loop; sync
  node functions run on the executor's thread pool, a whole all-sync block in one hop.
- :class:`SynchronousLocalTaskExecutor`: inline in the loop thread, one task at a time. For
  debugging; sync code blocks the loop.
- :class:`MultiThreadingExecutor`: like the asyncio executor with a pool of ``max_tasks``
  threads, for sync code that blocks on I/O.
- :class:`MultiProcessingExecutor`: each block instance travels to a worker process as one
  cloudpickle payload (so lambdas, closures and ``__main__`` functions work).

Example::

    from asyncdag import driver
    from asyncdag.execution import executors

    dr = (
        driver.Builder()
        .with_modules(my_module)
        .with_remote_executor(executors.MultiThreadingExecutor(max_tasks=8))
        .build()
    )
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
import weakref
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from asyncdag.errors import ExecutorError

if TYPE_CHECKING:
    from asyncdag.execution._plan import BlockPlan
    from asyncdag.execution._procpool import ProcessPool
    from asyncdag.execution._scheduler import Instance

__all__ = [
    "DEFAULT_MAX_TASKS",
    "AsyncioExecutor",
    "BatchingExecutor",
    "MultiProcessingExecutor",
    "MultiThreadingExecutor",
    "SlotLimiter",
    "SynchronousLocalTaskExecutor",
    "TaskExecutor",
]

#: How many block instances the default executor runs at once, across all runs sharing it.
DEFAULT_MAX_TASKS = 256


class SlotLimiter:
    """``max_tasks`` as one bound across threads and event loops.

    An executor is shared by runs on different loops (``execute()`` runs each thread's calls
    on that thread's private loop, a web app awaits ``aexecute`` on its own), so its bound
    cannot be an asyncio primitive, which belongs to one loop. Waiters queue in order; a slot
    freed on one loop is handed to a waiter on another with ``call_soon_threadsafe``.
    """

    def __init__(self, slots: int) -> None:
        self._lock = threading.Lock()
        self._free = slots
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()

    def try_acquire(self) -> bool:
        """Take a slot if one is free right now, without waiting."""
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                return True
            return False

    async def acquire(self) -> None:
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                return
            loop = asyncio.get_running_loop()
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, fut))
        try:
            await fut
        except asyncio.CancelledError:
            with self._lock:
                try:
                    self._waiters.remove((loop, fut))
                except ValueError:
                    pass  # already granted: _grant gives the slot back when it sees the cancel
            if fut.done() and not fut.cancelled():
                self.release()  # granted, then cancelled before resuming: give it back
            raise

    def release(self) -> None:
        with self._lock:
            while self._waiters:
                loop, fut = self._waiters.popleft()
                if fut.cancelled():
                    continue
                try:
                    loop.call_soon_threadsafe(self._grant, fut)
                except RuntimeError:  # that loop is closed: try the next waiter
                    continue
                return
            self._free += 1

    def _grant(self, fut: asyncio.Future[None]) -> None:
        if fut.cancelled():
            self.release()
        else:
            fut.set_result(None)


class TaskExecutor:
    """Base class of executors: how tasks run, and how many at once.

    ``max_tasks`` bounds the block instances running at once across every run that shares the
    executor (``None``: no bound beyond the expansion window).
    """

    #: tasks run one at a time, in the loop thread
    sequential: bool = False
    #: sync code runs on a thread pool
    threaded: bool = False
    #: block instances are serialized and run elsewhere
    remote: bool = False

    def __init__(self, max_tasks: int | None = None) -> None:
        if max_tasks is not None and max_tasks < 1:
            raise ExecutorError(f"max_tasks must be at least 1, got {max_tasks}")
        self.max_tasks = max_tasks
        self._slots = SlotLimiter(max_tasks) if max_tasks is not None else None
        self._item_seconds: weakref.WeakKeyDictionary[BlockPlan, float] = (
            weakref.WeakKeyDictionary()
        )
        self._closed = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_tasks={self.max_tasks})"

    # -- limits ----------------------------------------------------------------------------

    @property
    def limited(self) -> bool:
        return self.max_tasks is not None

    def try_acquire(self) -> bool:
        assert self._slots is not None
        return self._slots.try_acquire()

    async def acquire(self) -> None:
        """Wait for one of the ``max_tasks`` slots (any thread, any event loop)."""
        assert self._slots is not None
        await self._slots.acquire()

    def release(self) -> None:
        assert self._slots is not None
        self._slots.release()

    # -- work ------------------------------------------------------------------------------

    def submit_sync(
        self, loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> asyncio.Future[Any]:
        """Run sync ``fn`` as this executor runs sync code; a future of its result."""
        fut: asyncio.Future[Any] = loop.create_future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except Exception as exc:
            fut.set_exception(exc)
        return fut

    #: about how long the work of one batch of items should take
    batch_seconds: float = 0.002
    #: the most items in one batch
    max_batch: int = 256

    def batch_size(self, block: BlockPlan) -> int:
        """How many items of ``block`` go in one batch: enough for about ``batch_seconds``
        of measured work (1 while nothing is measured yet, at most ``max_batch``)."""
        per_item = self._item_seconds.get(block)
        if per_item is None:
            return 1
        return max(1, min(self.max_batch, int(self.batch_seconds / max(per_item, 1e-7))))

    def _record(self, block: BlockPlan, items: int, seconds: float) -> None:
        seen = seconds / max(items, 1)
        previous = self._item_seconds.get(block)
        self._item_seconds[block] = seen if previous is None else 0.7 * previous + 0.3 * seen

    async def run_batch(
        self, block: BlockPlan, parent: Instance, children: list[Instance], *, events: bool
    ) -> tuple[list[dict[str, Any]], list[tuple[str, tuple[int, ...], Any]]]:
        """Run block instances elsewhere (remote executors only).

        Returns their values, in order, and (with ``events``) the values of requested outputs
        produced inside, as ``(node, index path, value)``.
        """
        raise ExecutorError(f"{self!r} does not run block instances remotely")

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Release the executor's threads or processes. Idempotent."""
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise ExecutorError(f"{self!r} is closed; build a new driver or executor")


class SynchronousLocalTaskExecutor(TaskExecutor):
    """Runs every task inline in the event loop's thread, one at a time. For debugging.

    Sync functions block the loop while they run; items of a Parallelizable are processed one
    after another.
    """

    sequential = True

    def __init__(self) -> None:
        super().__init__(max_tasks=None)


class _ThreadPoolMixin(TaskExecutor):
    threaded = True
    _pool_size: int

    def __init__(self, max_tasks: int | None, threads: int) -> None:
        super().__init__(max_tasks)
        self._pool_size = threads
        self._pool: ThreadPoolExecutor | None = None

    def _executor(self) -> Executor:
        self._check_open()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=self._pool_size, thread_name_prefix="asyncdag-worker"
            )
        return self._pool

    def submit_sync(
        self, loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> asyncio.Future[Any]:
        call = functools.partial(fn, *args, **kwargs)
        # the run's context (asyncdag._calls) follows the work onto the thread
        return loop.run_in_executor(self._executor(), contextvars.copy_context().run, call)

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        super().close()


class AsyncioExecutor(_ThreadPoolMixin):
    """The default executor: tasks are coroutines on the event loop.

    Async node functions are awaited on the loop; sync ones run on a thread pool of ``threads``
    threads (an all-sync block instance in one hop). ``max_tasks`` bounds the block instances
    in flight at once, across all runs that share this executor.
    """

    def __init__(self, max_tasks: int | None = DEFAULT_MAX_TASKS, threads: int = 32) -> None:
        super().__init__(max_tasks, threads)


class MultiThreadingExecutor(_ThreadPoolMixin):
    """Runs sync code on a pool of ``max_tasks`` threads; at most ``max_tasks`` tasks at once."""

    def __init__(self, max_tasks: int = 10) -> None:
        super().__init__(max_tasks, max_tasks)


class BatchingExecutor(TaskExecutor):
    """Base class of executors that ship block instances elsewhere, in batches.

    Cheap items travel in batches: the executor measures how long an item of each block takes
    where it runs and sends as many as fill about ``batch_seconds`` per payload (1 while it does
    not know yet, at most ``max_batch``), so slow items still spread over all workers. A
    subclass implements :meth:`ship`: send ``run_batch(key, plan, data)`` somewhere, return
    its bytes.
    """

    remote = True

    def __init__(
        self, max_tasks: int, *, batch_seconds: float = 0.002, max_batch: int = 256
    ) -> None:
        super().__init__(max_tasks)
        self.batch_seconds = batch_seconds
        self.max_batch = max_batch

    async def ship(self, key: str, plan: bytes, data: bytes, what: str) -> bytes:
        """Run ``_worker.run_batch(key, plan, data)`` on a worker; its answer."""
        raise NotImplementedError

    async def run_batch(
        self, block: BlockPlan, parent: Instance, children: list[Instance], *, events: bool
    ) -> tuple[list[dict[str, Any]], list[tuple[str, tuple[int, ...], Any]]]:
        """Run the block instances ``children`` on one worker; see ``TaskExecutor``."""
        from asyncdag.execution import _serialize, _worker

        key, plan = _serialize.plan_payload(block)
        data = _serialize.batch_payload(
            block, parent, [(c.values, c.index) for c in children], events
        )
        first, last = children[0].index, children[-1].index
        what = (
            f"item {first} of {block.expander!r}"
            if first == last
            else f"items {first}..{last} of {block.expander!r}"
        )
        raw = await self.ship(key, plan, data, what)
        outs, elapsed, produced = _worker.decode_batch(raw)
        self._record(block, len(children), elapsed)
        return outs, produced


class MultiProcessingExecutor(BatchingExecutor):
    """Runs block instances in a pool of ``max_tasks`` worker processes.

    Tasks travel as cloudpickle payloads, so functions from ``__main__``, closures and lambdas
    work. Workers start with ``forkserver`` where available (``spawn`` elsewhere), never by
    forking a process that runs an event loop, and are reused across runs until ``close()``.
    Async nodes run on an event loop inside the worker (uvloop when installed). Cheap items
    travel in batches (see :class:`BatchingExecutor`).

    A worker that dies raises ``WorkerDiedError`` naming the task and is replaced; cancelling
    a run drops its queued work and replaces any worker still busy with it.
    """

    def __init__(
        self, max_tasks: int = 4, *, batch_seconds: float = 0.002, max_batch: int = 256
    ) -> None:
        super().__init__(max_tasks, batch_seconds=batch_seconds, max_batch=max_batch)
        self._pool: ProcessPool | None = None

    def pool(self) -> ProcessPool:
        """The worker pool, started on first use."""
        self._check_open()
        if self._pool is None:
            from asyncdag.execution import _worker
            from asyncdag.execution._procpool import ProcessPool

            assert self.max_tasks is not None
            self._pool = ProcessPool(self.max_tasks, _worker.serve)
        return self._pool

    def submit_sync(
        self, loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> asyncio.Future[Any]:
        """Run a sync node function in a worker process (used for nodes outside blocks when
        this executor is the local one)."""
        import cloudpickle

        from asyncdag.execution import _worker

        if args:
            raise ExecutorError("processes run node functions with keyword arguments only")
        name = getattr(fn, "__name__", repr(fn))
        try:
            data = cloudpickle.dumps((fn, kwargs))
        except Exception as exc:
            from asyncdag.errors import SerializationError

            raise SerializationError(
                f"the arguments of node {name!r} cannot be pickled to reach a worker process:"
                f" {exc}. Use a thread executor as the local executor, or a per-worker resource.",
                node=name,
            ) from exc
        result: asyncio.Future[Any] = loop.create_future()

        async def call() -> None:
            try:
                raw = await self.ship(_worker.CALL, b"", data, f"node {name!r}")
                result.set_result(_worker.decode_call(raw))
            except BaseException as exc:
                if not result.done():
                    if isinstance(exc, asyncio.CancelledError):
                        result.cancel()
                    else:
                        result.set_exception(exc)

        task = loop.create_task(call())
        result.add_done_callback(lambda f: task.cancel() if f.cancelled() else None)
        return result

    async def ship(self, key: str, plan: bytes, data: bytes, what: str) -> bytes:
        import threading

        import cloudpickle

        from asyncdag.execution._procpool import TaskCancelled

        payload = cloudpickle.dumps((key, plan, data))
        cancelled = threading.Event()
        carried = self.pool().submit(payload, what, cancelled)
        try:
            return await asyncio.wrap_future(carried)
        except asyncio.CancelledError:
            # The courier drops the task, or kills the busy worker; wait for that, so that
            # nothing of a cancelled run is still running when the run returns.
            cancelled.set()
            while not carried.done():
                try:
                    await asyncio.shield(asyncio.wrap_future(carried))
                except BaseException:
                    pass
            raise
        except TaskCancelled:
            raise asyncio.CancelledError() from None

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
        super().close()
