"""The executor bases: limits, measurements and lifecycle, on plain data.

An executor answers two questions for the engine, once per block and run (see
``executors``): how the sync steps of in-loop instances run (``sync_calls``), and how the
block instances of an expansion run (``dispatch``). The bases here hold what every executor
shares and know nothing of the scheduler: the ``max_tasks`` limiter, batch measurements for
executors that ship work elsewhere, and closing.
"""

from __future__ import annotations

import weakref
from typing import Any

from asyncdag._sync import SlotLimiter
from asyncdag.errors import ExecutorError
from asyncdag.execution._plan import BlockPlan

__all__ = ["BatchingBase", "ExecutorBase"]


class ExecutorBase:
    """What every executor has: ``max_tasks`` (block instances at once, across every run that
    shares the executor; ``None``: no bound beyond the expansion window) and a lifecycle."""

    def __init__(self, max_tasks: int | None = None) -> None:
        if max_tasks is not None and max_tasks < 1:
            raise ExecutorError(f"max_tasks must be at least 1, got {max_tasks}")
        self.max_tasks = max_tasks
        #: the limiter behind ``max_tasks`` (None when unbounded)
        self.slots = SlotLimiter(max_tasks) if max_tasks is not None else None
        self._closed = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_tasks={self.max_tasks})"

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Release the executor's threads or processes. Idempotent."""
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise ExecutorError(f"{self!r} is closed; build a new driver or executor")


class BatchingBase(ExecutorBase):
    """What executors that ship block instances elsewhere share: batch sizing.

    The executor measures how long an item of each block takes where it runs and sends as
    many as fill about ``batch_seconds`` per payload (at most ``max_batch``); the dispatch
    also caps a batch at an even share of what is pending among the executor's slots, so a
    measurement from an earlier run of cheap items never sends a run of slow ones to one
    worker.
    """

    def __init__(
        self, max_tasks: int, *, batch_seconds: float = 0.002, max_batch: int = 256
    ) -> None:
        super().__init__(max_tasks)
        self.batch_seconds = batch_seconds
        self.max_batch = max_batch
        self._item_seconds: weakref.WeakKeyDictionary[BlockPlan, float] = (
            weakref.WeakKeyDictionary()
        )

    def batch_size(self, block: BlockPlan) -> int:
        """How many items of ``block`` fill about ``batch_seconds`` of measured work (1 while
        nothing is measured yet, at most ``max_batch``)."""
        per_item = self._item_seconds.get(block)
        if per_item is None:
            return 1
        return max(1, min(self.max_batch, int(self.batch_seconds / max(per_item, 1e-7))))

    def record(self, block: BlockPlan, items: int, seconds: float) -> None:
        """A batch of ``items`` items of ``block`` took ``seconds`` where it ran."""
        seen = seconds / max(items, 1)
        previous = self._item_seconds.get(block)
        self._item_seconds[block] = seen if previous is None else 0.7 * previous + 0.3 * seen

    #: how many workers a batch of pending items is spread over
    @property
    def workers(self) -> int:
        return self.max_tasks or 1

    #: async blocks: the most items one job carries (``None``: what is pending, spread over
    #: the workers). 1 for executors whose jobs answer only once, so that no item waits for
    #: another of its job
    stream_group: int | None = None

    def job_options(self, block: BlockPlan) -> Any:
        """What this executor needs to know about ``block``'s nodes to place its jobs (read
        once per expansion, handed to :meth:`run_job` as ``options``); ``None`` by default."""
        return None

    async def ship(self, key: str, plan: bytes, data: bytes, what: str) -> bytes:
        """Run ``executors.run_batch(key, plan, data)`` on a worker; its answer. ``what``
        names the items in errors."""
        raise NotImplementedError

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
        """Run a batch of ``weight`` items on a worker; its final answer. An executor whose
        workers answer item by item calls ``on_part(answer)`` for each part as it arrives
        (and the final answer holds what is left); the default is :meth:`ship`, one answer.
        ``options`` is what :meth:`job_options` said about the block."""
        return await self.ship(key, plan, data, what)

    async def ship_call(self, data: bytes, what: str) -> bytes:
        """Run ``executors.run_call(data)`` on a worker; its answer."""
        raise ExecutorError(f"{self!r} cannot run single node calls; use it as remote executor")

    def _context(self) -> Any:  # pragma: no cover - documentation of the contract only
        return None
