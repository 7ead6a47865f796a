"""Run block instances on Ray.

Example::

    import ray
    from asyncdag import driver
    from asyncdag.plugins.ray import RayExecutor

    ray.init(num_cpus=2)
    dr = driver.Builder().with_modules(my_module).with_remote_executor(RayExecutor()).build()

Each batch of items is one Ray task running asyncdag's worker function; the expansion's window
and ``max_tasks`` bound how many are in flight (Ray queues without bound otherwise).
Cancelling a run cancels its Ray tasks (``ray.cancel(..., force=True)`` for ones already
running). The executor does not own the Ray runtime: ``ray.shutdown()`` is yours to call.
"""

from __future__ import annotations

import asyncio
from typing import Any

from asyncdag.errors import ExecutorError, WorkerDiedError
from asyncdag.execution.executors import BatchingExecutor, run_batch

__all__ = ["RayExecutor"]


class RayExecutor(BatchingExecutor):
    """Ships batches of block instances to Ray as tasks.

    ``max_tasks`` bounds the Ray tasks in flight (default: twice the cluster's CPUs when the
    executor is first used).
    """

    def __init__(
        self,
        max_tasks: int | None = None,
        *,
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
            raise ExecutorError("Ray is not initialized: call ray.init(...) before RayExecutor()")
        if max_tasks is None:
            cluster = ray.cluster_resources()  # type: ignore[no-untyped-call,unused-ignore]
            max_tasks = 2 * max(1, int(cluster.get("CPU", 1)))
        super().__init__(max_tasks, batch_seconds=batch_seconds, max_batch=max_batch)
        self._remote: Any = None

    def _task(self) -> Any:
        if self._remote is None:
            import ray

            self._remote = ray.remote(run_batch).options(max_retries=0)
        return self._remote

    async def ship(self, key: str, plan: bytes, data: bytes, what: str) -> bytes:
        import ray

        self._check_open()
        ref = self._task().remote(key, plan, data)
        try:
            answer: bytes = await asyncio.wrap_future(ref.future())
            return answer
        except asyncio.CancelledError:
            ray.cancel(ref, force=True)
            raise
        except ray.exceptions.RayError as exc:
            raise WorkerDiedError(f"the Ray task running {what} failed: {exc}") from exc
