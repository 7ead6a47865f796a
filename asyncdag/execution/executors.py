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
import functools
import weakref
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from asyncdag.errors import ExecutorError

if TYPE_CHECKING:
    from asyncdag.execution._plan import BlockPlan
    from asyncdag.execution._scheduler import Instance

__all__ = [
    "DEFAULT_MAX_TASKS",
    "AsyncioExecutor",
    "MultiProcessingExecutor",
    "MultiThreadingExecutor",
    "SynchronousLocalTaskExecutor",
    "TaskExecutor",
]

#: How many block instances the default executor runs at once, across all runs sharing it.
DEFAULT_MAX_TASKS = 256


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
        self._limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self._closed = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_tasks={self.max_tasks})"

    # -- limits ----------------------------------------------------------------------------

    @property
    def limited(self) -> bool:
        return self.max_tasks is not None

    def _limiter(self, loop: asyncio.AbstractEventLoop) -> asyncio.Semaphore:
        # asyncio primitives belong to one loop; execute() runs each call on a fresh loop.
        limiter = self._limiters.get(loop)
        if limiter is None:
            assert self.max_tasks is not None
            limiter = self._limiters[loop] = asyncio.Semaphore(self.max_tasks)
        return limiter

    async def acquire(self, loop: asyncio.AbstractEventLoop) -> None:
        await self._limiter(loop).acquire()

    def release(self, loop: asyncio.AbstractEventLoop) -> None:
        self._limiter(loop).release()

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

    async def run_block(
        self, block: BlockPlan, values: dict[str, Any], parent: Instance, index: tuple[int, ...]
    ) -> dict[str, Any]:
        """Run one block instance elsewhere (remote executors only)."""
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
        call = functools.partial(fn, *args, **kwargs) if kwargs else fn
        return loop.run_in_executor(self._executor(), call, *(() if kwargs else args))

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


class MultiProcessingExecutor(TaskExecutor):
    """Runs each block instance in a pool of ``max_tasks`` worker processes.

    Tasks travel as cloudpickle payloads, so functions from ``__main__``, closures and lambdas
    work. Workers start with ``forkserver`` where available (``spawn`` elsewhere), never by
    forking a process that runs an event loop, and are reused across runs until ``close()``.
    """

    remote = True

    def __init__(self, max_tasks: int = 4) -> None:
        super().__init__(max_tasks)
        self._pool: Executor | None = None

    def _executor(self) -> Executor:
        self._check_open()
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            methods = multiprocessing.get_all_start_methods()
            method = "forkserver" if "forkserver" in methods else "spawn"
            self._pool = ProcessPoolExecutor(
                max_workers=self.max_tasks, mp_context=multiprocessing.get_context(method)
            )
        return self._pool

    async def run_block(
        self, block: BlockPlan, values: dict[str, Any], parent: Instance, index: tuple[int, ...]
    ) -> dict[str, Any]:
        from asyncdag.execution import _serialize, _worker

        key, plan = _serialize.plan_payload(block)
        data = _serialize.item_payload(block, values, parent, index)
        loop = asyncio.get_running_loop()
        try:
            raw = await loop.run_in_executor(self._executor(), _worker.run_payload, key, plan, data)
        except Exception as exc:
            from concurrent.futures.process import BrokenProcessPool

            if isinstance(exc, BrokenProcessPool):
                self._pool = None  # the next task starts a fresh pool
                from asyncdag.errors import WorkerDiedError

                raise WorkerDiedError(
                    f"a worker process died while running the block of {block.expander!r} for"
                    f" item {index}; the pool is restarted for the next task"
                ) from exc
            raise
        return _worker.decode_result(raw)

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        super().close()
