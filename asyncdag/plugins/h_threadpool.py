"""Hamilton's ``plugins.h_threadpool`` name: ``FutureAdapter``, nodes in parallel on threads.

Example::

    from asyncdag.plugins import h_threadpool

    dr = driver.Builder().with_modules(m).with_adapters(h_threadpool.FutureAdapter()).build()
    dr.execute(["s", "x", "a"])   # independent sync nodes run at the same time

In asyncdag every node starts the moment its arguments are ready, so running sync nodes on a
thread pool is only a matter of the executor: the adapter gives the driver a
:class:`~asyncdag.execution.executors.MultiThreadingExecutor` of ``max_workers`` threads for
the nodes outside Parallelizable blocks (unless the builder names a local executor itself),
and builds the result with ``result_builder`` (a dict by default). Unlike Hamilton's,
it also works with Parallelizable blocks.
"""

from __future__ import annotations

import os
from typing import Any

from asyncdag.execution.executors import MultiThreadingExecutor
from asyncdag.lifecycle.api import ResultBuilder

__all__ = ["FutureAdapter"]


class FutureAdapter(ResultBuilder):
    """Hamilton's ``FutureAdapter(max_workers=None, thread_name_prefix="", result_builder=None)``.

    ``thread_name_prefix`` is accepted and not used (the executor names its threads).
    """

    def __init__(
        self,
        max_workers: int | None = None,
        thread_name_prefix: str = "",
        result_builder: ResultBuilder | None = None,
    ) -> None:
        workers = max_workers or min(32, (os.cpu_count() or 1) + 4)
        #: the executor the driver uses for the nodes outside blocks
        self.local_executor = MultiThreadingExecutor(max_tasks=workers)
        self.thread_name_prefix = thread_name_prefix
        self.result_builder = result_builder

    def build_result(self, **outputs: Any) -> Any:
        if self.result_builder is not None:
            return self.result_builder.build_result(**outputs)
        return dict(outputs)

    def output_type(self) -> Any:
        return self.result_builder.output_type() if self.result_builder else Any
