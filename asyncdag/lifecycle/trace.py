"""A trace of each run, as a file that ``chrome://tracing`` and Perfetto (ui.perfetto.dev) open.

Example::

    from asyncdag import driver
    from asyncdag.lifecycle import ChromeTrace

    dr = driver.Builder().with_modules(my_module).with_adapters(ChromeTrace("run.json")).build()
    dr.execute(["total"], inputs={...})   # then open run.json in Perfetto

Every node call is one slice (its name, item index and outcome in the slice's arguments);
calls that overlap in time are laid out on separate lanes. Each run rewrites the file; pass a
``path`` containing ``{run_id}`` to keep one file per run. Nodes of blocks that run in one
piece elsewhere (a process, a thread hop) appear as they are reported back. At most
``max_events`` slices are kept per run, so a run of millions of items stays bounded.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from asyncdag.lifecycle._hooks import LifecycleHooks

__all__ = ["ChromeTrace"]


class ChromeTrace(LifecycleHooks):
    """Writes each run's node calls as a Chrome trace (JSON) to ``path``."""

    def __init__(self, path: str | os.PathLike[str], *, max_events: int = 1_000_000) -> None:
        self.path = str(path)
        self.max_events = max_events
        self._lock = threading.Lock()
        self._runs: dict[str, _RunTrace] = {}

    def run_before_graph_execution(self, *, run_id: str, **future_kwargs: Any) -> None:
        with self._lock:
            self._runs[run_id] = _RunTrace(time.perf_counter())

    def run_before_node_execution(
        self, *, run_id: str, node_name: str, index: tuple[int, ...], **future_kwargs: Any
    ) -> None:
        trace = self._runs.get(run_id)
        if trace is not None:
            trace.starts[(node_name, index)] = time.perf_counter()

    def run_after_node_execution(
        self,
        *,
        run_id: str,
        node_name: str,
        index: tuple[int, ...],
        success: bool,
        error: BaseException | None = None,
        **future_kwargs: Any,
    ) -> None:
        trace = self._runs.get(run_id)
        if trace is None or len(trace.slices) >= self.max_events:
            return
        end = time.perf_counter()
        start = trace.starts.pop((node_name, index), end)
        trace.slices.append((start, end, node_name, index, success, error))

    def run_after_graph_execution(
        self, *, run_id: str, success: bool, error: BaseException | None, **future_kwargs: Any
    ) -> None:
        with self._lock:
            trace = self._runs.pop(run_id, None)
        if trace is None:
            return
        target = Path(self.path.replace("{run_id}", run_id))
        target.write_text(json.dumps(trace.document(run_id, success, error)))


class _RunTrace:
    def __init__(self, origin: float) -> None:
        self.origin = origin
        self.starts: dict[tuple[str, tuple[int, ...]], float] = {}
        self.slices: list[tuple[float, float, str, tuple[int, ...], bool, Any]] = []

    def document(self, run_id: str, success: bool, error: BaseException | None) -> dict[str, Any]:
        lanes: list[float] = []  # when each lane is free again
        events: list[dict[str, Any]] = [
            {"name": "process_name", "ph": "M", "pid": 1, "args": {"name": f"run {run_id}"}}
        ]
        for start, end, name, index, ok, err in sorted(self.slices, key=lambda s: s[0]):
            lane = next((n for n, free in enumerate(lanes) if free <= start), len(lanes))
            if lane == len(lanes):
                lanes.append(end)
            else:
                lanes[lane] = end
            args: dict[str, Any] = {"index": list(index), "success": ok}
            if err is not None:
                args["error"] = f"{type(err).__name__}: {err}"
            events.append(
                {
                    "name": name,
                    "cat": "node",
                    "ph": "X",
                    "ts": round((start - self.origin) * 1e6, 3),
                    "dur": round((end - start) * 1e6, 3),
                    "pid": 1,
                    "tid": lane,
                    "args": args,
                }
            )
        meta = {"run_id": run_id, "success": success}
        if error is not None:
            meta["error"] = f"{type(error).__name__}: {error}"
        return {"traceEvents": events, "displayTimeUnit": "ms", "otherData": meta}
