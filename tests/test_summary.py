"""RunSummary: per node calls, failures, retries and p50/p99 at the end of each run, as a
value and as one printed table."""

from __future__ import annotations

import asyncio
import io
import random
import textwrap
import types

import anyio
import pytest

from asyncdag import driver
from asyncdag.errors import NodeExecutionError
from asyncdag.lifecycle import RunReport, RunSummary, summary

pytestmark = pytest.mark.anyio

DAG = """
import asyncio
from asyncdag.htypes import Collect, Parallelizable
from asyncdag.policies import on_error

def item(n: int) -> Parallelizable[int]:
    yield from range(n)

@on_error("deliver")
async def checked(item: int, hold: asyncio.Event) -> int:
    await hold.wait()
    if item % 4 == 0:
        raise ValueError(item)
    return item

def total(checked: Collect[object]) -> int:
    return sum(v for v in checked if isinstance(v, int))
"""


def _module() -> types.ModuleType:
    module = types.ModuleType("summary_dag")
    exec(textwrap.dedent(DAG), module.__dict__)
    return module


async def test_a_run_ends_with_one_table_and_a_value() -> None:
    out = io.StringIO()
    adapter = RunSummary(stream=out)
    dr = driver.Builder().with_modules(_module()).with_adapters(adapter).build()
    hold = asyncio.Event()
    hold.set()
    with anyio.fail_after(20):
        result = await dr.aexecute(["total"], inputs={"n": 20, "hold": hold})
    assert result["total"] == sum(i for i in range(20) if i % 4)
    report = adapter.last
    assert isinstance(report, RunReport) and report.status == "done"
    assert list(report.nodes) == ["item", "checked", "total"]  # the order they first ran
    checked = report.nodes["checked"]
    assert (checked.calls, checked.failed, checked.retries) == (20, 5, 0)
    assert report.nodes["item"].calls == 1 and report.nodes["total"].calls == 1
    assert checked.p50 is not None and checked.p99 is not None
    assert 0 <= checked.p50 <= checked.p99
    assert dict(report.items) == {"done": 15, "failed": 5, "skipped": 0}
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"run {report.run_id[:8]} done in ")
    assert lines[0].endswith("20 items: 15 done, 5 failed")
    assert lines[1].split() == ["node", "calls", "failed", "retries", "p50", "p99"]
    assert lines[3].split()[:4] == ["checked", "20", "5", "0"]
    assert out.getvalue() == report.table() + "\n"


async def test_failed_and_cancelled_runs_say_so() -> None:
    out = io.StringIO()
    adapter = RunSummary(stream=out)
    module = _module()
    dr = driver.Builder().with_modules(module).with_adapters(adapter).build()
    hold = asyncio.Event()
    with anyio.fail_after(20):
        run = asyncio.ensure_future(dr.aexecute(["total"], inputs={"n": 5, "hold": hold}))
        await asyncio.sleep(0)
        while not adapter._runs or "checked" not in next(iter(adapter._runs.values())).nodes:
            await asyncio.sleep(0.01)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
    assert adapter.last is not None and adapter.last.status == "stopped"
    assert adapter.last.nodes["checked"].calls == 0  # cancelled: none ended

    def broken(n: int) -> int:
        raise RuntimeError("no")

    failing = types.ModuleType("failing")
    failing.broken = broken  # type: ignore[attr-defined]
    broken.__module__ = "failing"
    dr = driver.Builder().with_modules(failing).with_adapters(adapter).build()
    with anyio.fail_after(20), pytest.raises(NodeExecutionError):
        await dr.aexecute(["broken"], inputs={"n": 1})
    assert adapter.last.status == "failed"
    assert (adapter.last.nodes["broken"].calls, adapter.last.nodes["broken"].failed) == (1, 1)
    heads = [line for line in out.getvalue().splitlines() if line.startswith("run ")]
    assert [h.split()[2] for h in heads] == ["stopped", "failed"]  # one table per run


async def test_concurrent_runs_are_counted_apart() -> None:
    adapter = RunSummary(print_table=False)
    dr = driver.Builder().with_modules(_module()).with_adapters(adapter).build()
    hold = asyncio.Event()
    hold.set()
    reports = []

    async def one(n: int) -> None:
        await dr.aexecute(["total"], inputs={"n": n, "hold": hold})
        reports.append(adapter.last)

    with anyio.fail_after(20):
        await asyncio.gather(one(8), one(12))
    assert sorted(r.nodes["checked"].calls for r in reports if r is not None) == [8, 12]


def emit(adapter: RunSummary, run: str = "r") -> None:
    """A run as the engine reports it with outcomes, attempts and relayed timestamps."""
    adapter.run_before_graph_execution(run_id=run, final_vars=[], inputs={}, overrides={})
    for i in range(100):
        index = (i,)
        adapter.run_before_node_execution(
            run_id=run, node_name="page", node_tags={}, index=index, task_id=str(i)
        )
        adapter.run_after_node_execution(
            run_id=run, node_name="page", node_tags={}, index=index, task_id=str(i),
            result=None, error=None, success=i != 7, attempts=3 if i < 10 else 1,
            started_at=1000.0, ended_at=1000.0 + (i + 1) / 1000,
        )  # fmt: skip
        outcome = "skipped" if i == 7 else ("delivered" if i == 8 else "done")
        adapter.run_after_task_execution(
            run_id=run, task_id=str(i), expander="url", index=index,
            success=outcome == "done", error=None, outcome=outcome,
        )  # fmt: skip


def test_engine_figures_when_given() -> None:
    adapter = RunSummary(print_table=False)
    emit(adapter)
    # retry events are ignored when the calls report their attempts (no double counting)
    adapter.run_before_node_retry(
        run_id="r", node_name="page", index=(0,), label=None, task_id="0",
        attempt=2, error=None, delay=0.1,
    )  # fmt: skip
    adapter.run_after_graph_execution(run_id="r", success=True, error=None, results={})
    report = adapter.last
    assert report is not None
    page = report.nodes["page"]
    assert (page.calls, page.failed, page.retries) == (100, 1, 20)
    assert page.p50 == pytest.approx(0.050, rel=0.01)  # from started_at / ended_at
    assert page.p99 == pytest.approx(0.099, rel=0.01)
    assert page.total_time == pytest.approx(sum(range(1, 101)) / 1000)
    assert dict(report.items) == {"done": 98, "failed": 1, "skipped": 1}
    table = report.table()
    assert "100 items: 98 done, 1 failed, 1 skipped" in table
    row = table.splitlines()[2].split()
    assert row[:4] == ["page", "100", "1", "20"] and row[5::2] == ["ms", "ms"]


def test_retry_events_count_when_attempts_are_not_reported() -> None:
    adapter = RunSummary(print_table=False)
    adapter.run_before_graph_execution(run_id="r", final_vars=[], inputs={}, overrides={})
    for attempt in (2, 3):
        adapter.run_before_node_retry(
            run_id="r", node_name="page", index=(0,), label=None, task_id="0",
            attempt=attempt, error=OSError(), delay=0.1,
        )  # fmt: skip
    adapter.run_after_graph_execution(run_id="r", success=True, error=None, results={})
    assert adapter.last is not None and adapter.last.nodes["page"].retries == 2


def test_percentiles_are_within_one_percent() -> None:
    rng = random.Random(3)
    values = [rng.lognormvariate(-4, 1.5) for _ in range(20_000)]
    hist = summary._Histogram()
    for v in values:
        hist.add(v)
    ordered = sorted(values)
    for q in (0.5, 0.9, 0.99):
        exact = ordered[max(1, int(q * len(ordered) + 0.999999)) - 1]
        assert hist.quantile(q) == pytest.approx(exact, rel=0.01)
    assert len(hist.buckets) < 2000  # bounded, whatever the count
    assert summary._Histogram().quantile(0.5) is None


async def test_a_real_run_counts_retries() -> None:
    from tests.dags_policies import skipping

    skipping.reset()
    adapter = RunSummary(print_table=False)
    dr = driver.Builder().with_modules(skipping).with_adapters(adapter).build()
    with anyio.fail_after(20):
        await dr.aexecute(["afetched"], inputs={"n": 4, "bad": 2})
    assert adapter.last is not None
    assert adapter.last.nodes["afetched"].retries == 5
    assert dict(adapter.last.items) == {"done": 3, "failed": 0, "skipped": 1}
