"""Run block instances on a Dask cluster.

Example::

    from distributed import Client, LocalCluster
    from asyncdag import driver
    from asyncdag.plugins.dask import DaskExecutor

    client = Client(LocalCluster(n_workers=2, host="127.0.0.1", dashboard_address=None))
    dr = (
        driver.Builder()
        .with_modules(my_module)
        .with_remote_executor(DaskExecutor(client, max_tasks=8))
        .build()
    )

Dask applies no backpressure of its own: submitted work is queued without bound. Here each
expansion's window and the executor's ``max_tasks`` bound what is submitted, so a generator
of a million items never floods the scheduler. Items travel in batches as on processes, as
one cloudpickle payload each; per-worker resources are built once per Dask worker process.
Cancelling a run cancels its Dask futures. The executor does not own the client: closing the
driver leaves the cluster running; close the client yourself.
"""

from __future__ import annotations

import asyncio
from typing import Any

from asyncdag.errors import ExecutorError, WorkerDiedError
from asyncdag.execution.executors import BatchingExecutor, run_batch

__all__ = ["DaskExecutor"]


class DaskExecutor(BatchingExecutor):
    """Ships block instances to a ``distributed.Client``.

    Sync blocks travel in batches sized from their measured time. Async blocks go in Dask
    tasks of up to ``concurrency`` instances, which run at once on the Dask worker process's
    own event loop (shared by its threads), so a worker keeps ``threads x concurrency``
    instances in flight; the instances of one task come back together. ``max_tasks`` bounds
    the batches (sync) or instances (async) in flight (default: the larger of twice the
    cluster's threads and ``threads x concurrency``).
    """

    def __init__(
        self,
        client: Any,
        max_tasks: int | None = None,
        *,
        concurrency: int = 1,
        batch_seconds: float = 0.005,
        max_batch: int = 512,
    ) -> None:
        try:
            import distributed  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ExecutorError(
                "DaskExecutor needs the 'dask' extra: pip install 'asyncdag[dask]'"
            ) from exc
        if concurrency < 1:
            raise ExecutorError(f"concurrency must be at least 1, got {concurrency}")
        threads = sum(client.nthreads().values()) or 1
        if max_tasks is None:
            max_tasks = max(2 * threads, threads * concurrency)
        super().__init__(max_tasks, batch_seconds=batch_seconds, max_batch=max_batch)
        self.client = client
        self.concurrency = concurrency
        self.stream_group = concurrency  # async instances in one Dask task
        self._threads = threads

    @property
    def workers(self) -> int:
        return self._threads

    async def ship(self, key: str, plan: bytes, data: bytes, what: str) -> bytes:
        self._check_open()
        loop = asyncio.get_running_loop()
        result: asyncio.Future[bytes] = loop.create_future()
        dask_future = self.client.submit(run_batch, key, plan, data, pure=False)

        def settle(done: Any) -> None:  # called on the client's own thread
            loop.call_soon_threadsafe(_settle, result, done, what)

        dask_future.add_done_callback(settle)
        try:
            return await result
        except asyncio.CancelledError:
            dask_future.cancel()
            raise


def _settle(result: asyncio.Future[bytes], done: Any, what: str) -> None:
    if result.done():
        return
    status = done.status
    if status == "finished":
        result.set_result(done.result())
    elif status == "cancelled":
        result.cancel()
    else:
        try:
            exc = done.exception()
        except Exception as err:  # the scheduler lost the task
            exc = err
        error = WorkerDiedError(f"the Dask task running {what} failed: {exc!r}")
        error.__cause__ = exc
        result.set_exception(error)
