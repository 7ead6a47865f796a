"""Run block instances on Ray.

Example::

    import ray
    from asyncdag import driver
    from asyncdag.plugins.ray import RayExecutor

    ray.init(num_cpus=2)        # RayExecutor needs a running Ray: call ray.init() first
    dr = (
        driver.Builder()
        .with_modules(my_module)
        .with_remote_executor(RayExecutor(concurrency=64))
        .build()
    )

Blocks of sync nodes (CPU work) travel as Ray *tasks*, in batches sized from their measured
time. Blocks with async nodes (I/O) go to Ray *async actors*, one per CPU by default
(``actors=``), each running up to ``concurrency`` block instances at once on its own event
loop; each instance is one actor call, sent as it is admitted and answered on its own. Chosen
by measurement (``python -m benchmarks w5`` and ``crawl``): a batch task per item costs a
worker process per page in flight, while an actor call keeps dozens of pages in flight per
process at a fraction of a millisecond each.

The expansion's window and ``max_tasks`` bound what is in flight (Ray queues without bound
otherwise). Cancelling a run cancels its Ray work: actor calls are cancelled (their coroutines
see ``CancelledError``), the workers of running tasks are killed (Ray replaces them), and the
run waits for Ray to confirm. The
executor does not own the Ray runtime: ``ray.shutdown()`` is yours to call.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from asyncdag.errors import ExecutorError, WorkerDiedError
from asyncdag.execution.executors import BatchingExecutor, arun_batch, run_batch

__all__ = ["RayExecutor"]


class _AsyncWorker:
    """A Ray async actor: runs batches of async block instances on its own event loop."""

    async def run(self, key: str, plan: bytes, data: bytes) -> bytes:
        return await arun_batch(key, plan, data)


class RayExecutor(BatchingExecutor):
    """Ships block instances to Ray: sync blocks as tasks, async blocks to async actors.

    ``max_tasks`` bounds the block instances (async) or batches (sync) in flight (default:
    the larger of twice the cluster's CPUs and ``actors * concurrency``).
    """

    #: an actor call answers once: each async item is a call of its own
    stream_group = 1

    def __init__(
        self,
        max_tasks: int | None = None,
        *,
        concurrency: int = 1,
        actors: int | None = None,
        batch_seconds: float = 0.005,
        max_batch: int = 512,
    ) -> None:
        try:
            import ray
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ExecutorError(
                "RayExecutor needs the 'ray' extra: pip install 'asyncdag[ray]'"
            ) from exc
        if not ray.is_initialized():
            raise ExecutorError(
                "Ray is not initialized: call ray.init(...) before RayExecutor() (for a local"
                ' Ray on this machine only: ray.init(num_cpus=2, _node_ip_address="127.0.0.1"))'
            )
        if concurrency < 1:
            raise ExecutorError(f"concurrency must be at least 1, got {concurrency}")
        cluster = ray.cluster_resources()  # type: ignore[no-untyped-call,unused-ignore]
        cpus = max(1, int(cluster.get("CPU", 1)))
        self.actors = actors or cpus
        self.concurrency = concurrency
        if max_tasks is None:
            max_tasks = max(2 * cpus, self.actors * concurrency)
        super().__init__(max_tasks, batch_seconds=batch_seconds, max_batch=max_batch)
        self._task_fn: Any = None
        self._pool: list[Any] = []
        self._load: list[int] = []

    @property
    def workers(self) -> int:
        return self.actors

    def _task(self) -> Any:
        if self._task_fn is None:
            import ray

            self._task_fn = ray.remote(run_batch).options(max_retries=0)
        return self._task_fn

    def _actor(self) -> int:
        """The least loaded actor (started on first use)."""
        if not self._pool:
            import ray

            cls = ray.remote(_AsyncWorker).options(max_concurrency=self.concurrency, max_restarts=0)
            self._pool = [cls.remote() for _ in range(self.actors)]
            self._load = [0] * self.actors
        return min(range(len(self._pool)), key=self._load.__getitem__)

    async def ship(self, key: str, plan: bytes, data: bytes, what: str) -> bytes:
        self._check_open()
        return await self._await(self._task().remote(key, plan, data), what, force=True)

    async def run_job(
        self,
        key: str,
        plan: bytes,
        data: bytes,
        what: str,
        *,
        weight: int,
        on_part: Any = None,
    ) -> bytes:
        if on_part is None:  # a batch of sync items: a task
            return await self.ship(key, plan, data, what)
        self._check_open()
        n = self._actor()
        self._load[n] += weight
        try:
            ref = self._pool[n].run.remote(key, plan, data)
            return await self._await(ref, what, force=False)
        finally:
            self._load[n] -= weight

    async def _await(self, ref: Any, what: str, *, force: bool) -> bytes:
        import ray

        waiter = asyncio.wrap_future(ref.future())
        try:
            answer: bytes = await asyncio.shield(waiter)
            return answer
        except asyncio.CancelledError:
            # Stop it, and wait until Ray says it is over: nothing of a cancelled run keeps
            # running, and no worker killed for it takes on the next run's work meanwhile. A
            # task (sync code) is stopped by killing its worker process; an actor call (async
            # code) by cancelling its coroutine.
            ray.cancel(ref, force=force)
            while not waiter.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait({waiter})
            if not waiter.cancelled():
                waiter.exception()  # retrieved: the cancellation is what the caller sees
            raise
        except ray.exceptions.RayError as exc:
            raise WorkerDiedError(f"the Ray task running {what} failed: {exc}") from exc

    def close(self) -> None:
        pool, self._pool = self._pool, []
        if pool:
            import ray

            for actor in pool:
                with contextlib.suppress(Exception):
                    ray.kill(actor)
        super().close()
