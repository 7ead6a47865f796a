"""The end of a run in numbers: per node, calls, failures, retries and p50/p99 latency.

::

    from asyncdag import driver
    from asyncdag.lifecycle import RunSummary

    summary = RunSummary()                  # prints one table on stderr when a run ends
    dr = driver.Builder().with_modules(crawl).with_adapters(summary).build()
    dr.execute(["totals"], inputs={...})
    summary.last.nodes["page"].p99          # the same figures, as a value

The printed table::

    run 5f0c3e2a done in 3.04 s · 2,000 items: 1,880 done, 90 failed, 30 skipped
    node        calls  failed  retries      p50      p99
    url             1       0        0    3.0 s    3.0 s
    page        2,000      90      212  21.0 ms   180 ms
    page_stats  1,910       0        0   210 us   900 us

What is counted: a node *call* is one ``run_before_node_execution`` / ``..._after_...`` pair
(all attempts of a ``retry`` are one call); *failed* calls raised; *retries* are the attempts
a ``retry`` policy started again (the engine's ``attempts`` of each call, or its
``run_before_node_retry`` events). Items are tasks (block instances) by how they ended.
Latency is the time between a call's two events, or the engine's ``started_at`` /
``ended_at`` when it gives them (calls that ran in a worker process). Percentiles come from a
histogram with buckets 1 % apart, so they are within 1 % of the exact value and memory stays
bounded however many items a run has.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Any

from asyncdag.lifecycle._hooks import LifecycleHooks

__all__ = ["NodeSummary", "RunReport", "RunSummary"]

_perf_counter: Callable[[], float] = time.perf_counter

_BUCKET = math.log(1.01)  # histogram buckets 1 % apart
_SMALLEST = 1e-7  # 0.1 us: every shorter call is counted in the first bucket


@dataclass(frozen=True)
class NodeSummary:
    """One node's calls in one run."""

    node: str
    calls: int  # calls that ended (a retried call counts once)
    failed: int  # calls that raised
    retries: int  # attempts started again by a retry policy
    p50: float | None  # seconds; None when no call ended
    p99: float | None
    total_time: float  # seconds, all calls added up


@dataclass(frozen=True)
class RunReport:
    """One run's summary: how it ended, its items by outcome, and its nodes.

    ``status`` is ``"done"``, ``"failed"`` or ``"stopped"`` (cancelled); ``items`` maps each
    outcome (``"done"``, ``"failed"`` — delivered failures included — and ``"skipped"``) to
    its count of tasks; ``nodes`` maps node names to :class:`NodeSummary`, in the order the
    nodes first ran.
    """

    run_id: str
    status: str
    elapsed: float
    items: Mapping[str, int]
    nodes: Mapping[str, NodeSummary]

    def table(self) -> str:
        """The summary as a small text table (what :class:`RunSummary` prints)."""
        items = sum(self.items.values())
        head = f"run {self.run_id[:8]} {self.status} in {_seconds(self.elapsed)}"
        if items:
            counts = ", ".join(f"{n:,} {outcome}" for outcome, n in self.items.items() if n)
            head += f" · {items:,} items: {counts}"
        rows = [("node", "calls", "failed", "retries", "p50", "p99")]
        for s in self.nodes.values():
            rows.append(
                (
                    s.node,
                    f"{s.calls:,}",
                    f"{s.failed:,}",
                    f"{s.retries:,}",
                    _seconds(s.p50),
                    _seconds(s.p99),
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [head]
        for row in rows:
            cells = [row[0].ljust(widths[0])]
            cells += [cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)]
            lines.append("  ".join(cells).rstrip())
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _status(success: bool, error: BaseException | None) -> str:
    """How a run ended: ``done``, ``failed`` (an error), ``stopped`` (cancelled)."""
    if success:
        return "done"
    return "failed" if isinstance(error, Exception) else "stopped"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1.0:
        return f"{value:.3g} s"
    if value >= 1e-3:
        return f"{value * 1e3:.3g} ms"
    return f"{value * 1e6:.3g} us"


class _Histogram:
    """Durations in buckets 1 % apart: quantiles within 1 %, memory bounded by the range."""

    __slots__ = ("buckets", "count", "total")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0
        self.total = 0.0

    def add(self, seconds: float) -> None:
        seconds = max(seconds, 0.0)
        key = math.floor(math.log(max(seconds, _SMALLEST) / _SMALLEST) / _BUCKET)
        self.buckets[key] = self.buckets.get(key, 0) + 1
        self.count += 1
        self.total += seconds

    def quantile(self, q: float) -> float | None:
        if not self.count:
            return None
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for key in sorted(self.buckets):
            seen += self.buckets[key]
            if seen >= rank:
                # the bucket's geometric middle: within half a bucket of every value in it
                return float(_SMALLEST * math.exp((key + 0.5) * _BUCKET))
        raise AssertionError("unreachable")  # pragma: no cover


class _NodeCounts:
    __slots__ = ("attempt_retries", "calls", "failed", "latency", "retry_events", "saw_attempts")

    def __init__(self) -> None:
        self.calls = self.failed = 0
        self.attempt_retries = self.retry_events = 0
        self.saw_attempts = False
        self.latency = _Histogram()


class _RunCounts:
    __slots__ = ("items", "nodes", "started", "starts")

    def __init__(self, started: float) -> None:
        self.started = started
        self.items = {"done": 0, "failed": 0, "skipped": 0}
        self.nodes: dict[str, _NodeCounts] = {}
        # (node, index) -> when the call started, while it runs (bounded by the calls in flight)
        self.starts: dict[tuple[str, tuple[int, ...]], float] = {}

    def node(self, name: str) -> _NodeCounts:
        counts = self.nodes.get(name)
        if counts is None:
            counts = self.nodes[name] = _NodeCounts()
        return counts


class RunSummary(LifecycleHooks):
    """At the end of every run: counts, p50/p99 latency and retries per node.

    Parameters:
        stream: where to print the table when a run ends (``sys.stderr``, read then, by
            default).
        print_table: ``False`` keeps it quiet: read :attr:`last` instead.

    :attr:`last` is the :class:`RunReport` of the run that ended last; concurrent runs are
    counted apart, each printing its own table.
    """

    def __init__(self, *, stream: IO[str] | None = None, print_table: bool = True) -> None:
        self._stream = stream
        self.print_table = print_table
        self._runs: dict[str, _RunCounts] = {}
        #: the summary of the run that ended last
        self.last: RunReport | None = None

    def run_before_graph_execution(self, *, run_id: str, **_: Any) -> None:
        self._runs[run_id] = _RunCounts(_perf_counter())

    def run_before_node_execution(
        self, *, run_id: str, node_name: str, index: tuple[int, ...], **_: Any
    ) -> None:
        run = self._runs.get(run_id)
        if run is not None:
            run.node(node_name)  # the table lists nodes in the order they first ran
            run.starts[node_name, index] = _perf_counter()

    def run_after_node_execution(
        self,
        *,
        run_id: str,
        node_name: str,
        index: tuple[int, ...],
        success: bool,
        started_at: float | None = None,
        ended_at: float | None = None,
        attempts: int | None = None,
        **_: Any,
    ) -> None:
        run = self._runs.get(run_id)
        if run is None:
            return
        now = _perf_counter()
        began = run.starts.pop((node_name, index), now)
        counts = run.node(node_name)
        counts.calls += 1
        if not success:
            counts.failed += 1
        if attempts is not None:
            counts.saw_attempts = True
            counts.attempt_retries += max(attempts - 1, 0)
        if started_at is not None and ended_at is not None:
            counts.latency.add(ended_at - started_at)  # measured where it ran
        else:
            counts.latency.add(now - began)

    def run_before_node_retry(self, *, run_id: str, node_name: str, **_: Any) -> None:
        run = self._runs.get(run_id)
        if run is not None:
            run.node(node_name).retry_events += 1

    def run_after_task_execution(
        self, *, run_id: str, success: bool, outcome: str | None = None, **_: Any
    ) -> None:
        run = self._runs.get(run_id)
        if run is None:
            return
        if outcome is None:
            outcome = "done" if success else "failed"
        key = outcome if outcome in ("done", "skipped") else "failed"
        run.items[key] += 1

    def run_after_graph_execution(
        self, *, run_id: str, success: bool, error: BaseException | None = None, **_: Any
    ) -> None:
        run = self._runs.pop(run_id, None)
        if run is None:
            return
        status = _status(success, error)
        nodes = {
            name: NodeSummary(
                node=name,
                calls=c.calls,
                failed=c.failed,
                retries=c.attempt_retries if c.saw_attempts else c.retry_events,
                p50=c.latency.quantile(0.50),
                p99=c.latency.quantile(0.99),
                total_time=c.latency.total,
            )
            for name, c in run.nodes.items()
        }
        self.last = RunReport(run_id, status, _perf_counter() - run.started, run.items, nodes)
        if self.print_table:
            stream = self._stream if self._stream is not None else sys.stderr
            stream.write(self.last.table() + "\n")
            stream.flush()
