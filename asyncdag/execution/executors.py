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
- :class:`MultiProcessingExecutor`: block instances travel to worker processes as cloudpickle
  payloads (so lambdas, closures and ``__main__`` functions work).

An executor decides *how* (its two methods, :meth:`TaskExecutor.sync_calls` and
:meth:`TaskExecutor.dispatch`, asked once per block and run); the scheduler decides *when*.

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

import threading
import weakref
from typing import Any

import cloudpickle

from asyncdag._sync import SlotLimiter as SlotLimiter
from asyncdag.errors import ExecutorError
from asyncdag.execution import _worker
from asyncdag.execution._dispatch import (
    Dispatch,
    InlineCalls,
    InLoop,
    ProcessCalls,
    Remote,
    ThreadCalls,
    ThreadHops,
)
from asyncdag.execution._executor import BatchingBase, ExecutorBase
from asyncdag.execution._plan import BlockPlan
from asyncdag.execution._procpool import ProcessPool
from asyncdag.execution._threads import ThreadPool

__all__ = [
    "DEFAULT_MAX_TASKS",
    "AsyncioExecutor",
    "BatchingExecutor",
    "MultiProcessingExecutor",
    "MultiThreadingExecutor",
    "SlotLimiter",
    "SynchronousLocalTaskExecutor",
    "TaskExecutor",
    "arun_batch",
    "run_batch",
    "run_call",
]

#: How many block instances the default executor runs at once, across all runs sharing it.
DEFAULT_MAX_TASKS = 256

#: threads for sync steps that must never block a loop, on executors without a pool of
#: their own (a sync streaming collector under the inline executor)
_SPARE_THREADS = ThreadPool(32, "asyncdag-sync")


def run_batch(key: str, plan: bytes, data: bytes) -> bytes:
    """What a worker runs for a batch of block instances: bytes in, bytes out.

    For cluster executors: submit this function (with the arguments ``ship`` receives) to a
    worker and hand its answer back from ``ship``.
    """
    return _worker.run_batch(key, plan, data)


async def arun_batch(key: str, plan: bytes, data: bytes) -> bytes:
    """:func:`run_batch` as a coroutine, for a worker that runs an event loop of its own (an
    async actor): the batch's async block instances run on that loop, all at once."""
    return await _worker.arun_batch(key, plan, data)


def run_call(data: bytes) -> bytes:
    """What a worker runs for one sync node call: bytes in, bytes out."""
    return _worker.run_call(data)


class TaskExecutor(ExecutorBase):
    """Base class of executors: how tasks run, and how many at once.

    ``max_tasks`` bounds the block instances running at once across every run that shares the
    executor (``None``: no bound beyond the expansion window). A subclass answers:

    - :meth:`sync_calls`: how the sync steps of instances driven on the loop run;
    - :meth:`dispatch`: how the block instances of one expansion run.
    """

    def sync_calls(self, *, private_loop: bool) -> Any:
        """How sync steps of in-loop instances run (default: inline on the loop's thread)."""
        return InlineCalls(_SPARE_THREADS, type(self).__name__)

    def dispatch(
        self, block: BlockPlan, run: Any, *, private_loop: bool, group_blocks: bool
    ) -> Dispatch:
        """How the instances of an expansion of ``block`` run (default: on the loop, one
        ``max_tasks`` slot each; nested instances run in their parent's slot)."""
        return InLoop(self.slots if block.depth <= 1 else None, executor=type(self).__name__)


class SynchronousLocalTaskExecutor(TaskExecutor):
    """Runs every task inline in the event loop's thread, one at a time. For debugging.

    Sync functions block the loop while they run; items of a Parallelizable are processed one
    after another, and sync generators are advanced on the loop too.
    """

    def __init__(self) -> None:
        super().__init__(max_tasks=None)

    def dispatch(
        self, block: BlockPlan, run: Any, *, private_loop: bool, group_blocks: bool
    ) -> Dispatch:
        return InLoop(None, sequential=True, executor=type(self).__name__)


class _Threaded(TaskExecutor):
    """Sync code on a pool of ``threads`` threads; an all-sync block instance in one hop."""

    #: whether sync code runs inline on execute()'s private loop (the driver's default one)
    inline_in_execute = False

    def __init__(self, max_tasks: int | None, threads: int) -> None:
        super().__init__(max_tasks)
        self._threads = threads
        self._pool: ThreadPool | None = None
        self._lock = threading.Lock()
        self._inline_calls: InlineCalls | None = None
        self._threaded: ThreadCalls | None = None

    def pool(self) -> ThreadPool:
        self._check_open()
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPool(self._threads, "asyncdag-worker")
        return self._pool

    def _inline(self, private_loop: bool) -> bool:
        # On execute()'s private loop, sync code runs inline when this is the driver's
        # default executor, and also when the run was started on one of this executor's own
        # threads (a node running a driver again): its work must not queue behind the very
        # threads that wait for it.
        if not private_loop:
            return False
        return self.inline_in_execute or (
            self._pool is not None and ThreadPool.current() is self._pool
        )

    def sync_calls(self, *, private_loop: bool) -> Any:
        if self._inline(private_loop):
            if self._inline_calls is None:
                self._inline_calls = InlineCalls(self.pool(), type(self).__name__)
            return self._inline_calls
        if self._threaded is None:
            self._threaded = ThreadCalls(self.pool(), type(self).__name__)
        return self._threaded

    def dispatch(
        self, block: BlockPlan, run: Any, *, private_loop: bool, group_blocks: bool
    ) -> Dispatch:
        limiter = self.slots if block.depth <= 1 else None  # nested: in the parent's slot
        name = type(self).__name__
        if block.all_sync and block.steps and group_blocks and not self._inline(private_loop):
            return ThreadHops(run, block, self.pool(), limiter, name)
        return InLoop(limiter, executor=name)

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
        super().close()


class AsyncioExecutor(_Threaded):
    """The default executor: tasks are coroutines on the event loop.

    Async node functions are awaited on the loop; sync ones run on a thread pool of ``threads``
    threads (an all-sync block instance in one hop). ``max_tasks`` bounds the block instances
    in flight at once, across all runs that share this executor.
    """

    def __init__(self, max_tasks: int | None = DEFAULT_MAX_TASKS, threads: int = 32) -> None:
        super().__init__(max_tasks, threads)


class MultiThreadingExecutor(_Threaded):
    """Runs sync code on a pool of ``max_tasks`` threads; at most ``max_tasks`` tasks at once."""

    def __init__(self, max_tasks: int = 10) -> None:
        super().__init__(max_tasks, max_tasks)


class BatchingExecutor(BatchingBase, TaskExecutor):
    """Base class of executors that ship block instances elsewhere, in batches.

    A subclass implements ``ship(key, plan, data, what)``: run :func:`run_batch` with those
    arguments on a worker and return its answer (and, to serve as a local executor,
    ``ship_call(data, what)`` running :func:`run_call`). Batches are sized as
    :class:`~asyncdag.execution._executor.BatchingBase` describes.
    """

    def sync_calls(self, *, private_loop: bool) -> Any:
        return ProcessCalls(self, _SPARE_THREADS)

    def dispatch(
        self, block: BlockPlan, run: Any, *, private_loop: bool, group_blocks: bool
    ) -> Dispatch:
        return Remote(run, block, self)


class MultiProcessingExecutor(BatchingExecutor):
    """Runs block instances in a pool of worker processes.

    ``processes`` worker processes (default: ``max_tasks``, else 4); each runs up to
    ``concurrency`` async block instances at once on its own event loop (default 1), so
    ``MultiProcessingExecutor(processes=2, concurrency=64)`` keeps 128 page fetches in
    flight on two cores. ``max_tasks`` bounds the block instances in flight across all runs
    (default ``processes * concurrency``); ``MultiProcessingExecutor(max_tasks=4)`` means four
    processes, one instance each, as before.

    Async blocks stream: each instance is sent as soon as it is admitted and comes back as
    soon as it finishes, beside the others. All-sync blocks (CPU work) travel in batches sized
    from their measured time, spread over every worker (see :class:`BatchingExecutor`).

    Tasks travel as cloudpickle payloads, so functions from ``__main__``, closures and lambdas
    work. Workers start with ``forkserver`` where available (``spawn`` elsewhere), never by
    forking a process that runs an event loop, and are reused across runs until ``close()``
    (or until the executor is garbage-collected); each exits as soon as this process is gone.
    Async nodes run on the worker's event loop (uvloop when installed).

    A worker that dies raises ``WorkerDiedError`` naming the task and is replaced; cancelling
    a run drops its queued work, cancels its async items and replaces a worker that is busy
    with nothing but a sync item of it.
    """

    def __init__(
        self,
        max_tasks: int | None = None,
        *,
        processes: int | None = None,
        concurrency: int = 1,
        batch_seconds: float = 0.002,
        max_batch: int = 256,
    ) -> None:
        if concurrency < 1:
            raise ExecutorError(f"concurrency must be at least 1, got {concurrency}")
        if processes is not None and processes < 1:
            raise ExecutorError(f"processes must be at least 1, got {processes}")
        self.processes = processes or max_tasks or 4
        self.concurrency = concurrency
        bound = max_tasks if max_tasks is not None else self.processes * concurrency
        super().__init__(bound, batch_seconds=batch_seconds, max_batch=max_batch)
        self._pool: ProcessPool | None = None
        self._pool_lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(processes={self.processes}, concurrency={self.concurrency},"
            f" max_tasks={self.max_tasks})"
        )

    @property
    def workers(self) -> int:
        return self.processes

    def pool(self) -> ProcessPool:
        """The worker pool, started on first use."""
        self._check_open()
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    pool = ProcessPool(self.processes, _worker.serve)
                    # a dropped executor's workers go with it, not at interpreter exit
                    weakref.finalize(self, pool.close, 1.0)
                    self._pool = pool
        return self._pool

    async def ship(self, key: str, plan: bytes, data: bytes, what: str) -> bytes:
        return await self.run_job(key, plan, data, what, weight=1)

    async def ship_call(self, data: bytes, what: str) -> bytes:
        payload = cloudpickle.dumps((_worker.CALL, b"", data))
        return await self._carry(payload, what, 1, None)

    async def run_job(
        self,
        key: str,
        plan: bytes,
        data: bytes,
        what: str,
        *,
        weight: int,
        on_part: Any = None,
        options: Any = None,
    ) -> bytes:
        return await self._carry(cloudpickle.dumps((key, plan, data)), what, weight, on_part)

    async def _carry(self, payload: bytes, what: str, weight: int, on_part: Any) -> bytes:
        # a job answered in parts is an async batch: the worker can cancel it item by item
        job = self.pool().submit(
            payload, what, weight=weight, on_part=on_part, interruptible=on_part is not None
        )
        return await job.answer()  # cancelled: the worker drops the job first

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
        super().close()
