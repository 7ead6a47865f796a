"""OpenTelemetryTracer, checked with the SDK's in-memory exporter: a span per run, per block
instance and per node call, nested, with their attributes, on the asyncio, thread and
process executors."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from asyncdag import driver
from asyncdag.execution import executors
from asyncdag.plugins.h_opentelemetry import OpenTelemetryTracer
from tests.dags_otel import shop

pytestmark = pytest.mark.anyio

SKUS = ["apple", "bad-pear", "fig"]
INPUTS = {"skus": SKUS, "pause": 0.0}


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    yield memory
    memory.clear()


def tracer_for(exporter: InMemorySpanExporter) -> tuple[OpenTelemetryTracer, trace.Tracer]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests")
    return OpenTelemetryTracer(tracer=tracer), tracer


def build(adapter: OpenTelemetryTracer, executor: str) -> driver.Driver:
    builder = driver.Builder().with_modules(shop).with_adapters(adapter)
    if executor == "threads":
        threads = executors.MultiThreadingExecutor(max_tasks=4)
        builder = builder.with_local_executor(threads).with_remote_executor(threads)
    elif executor == "processes":
        builder = builder.with_remote_executor(executors.MultiProcessingExecutor(max_tasks=2))
    return builder.build()


def by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, list[ReadableSpan]]:
    found: dict[str, list[ReadableSpan]] = {}
    for span in spans:
        found.setdefault(span.name, []).append(span)
    return found


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return {k: (tuple(v) if isinstance(v, tuple | list) else v) for k, v in span.attributes.items()}


@pytest.mark.parametrize("executor", ["asyncio", "threads", "processes"])
async def test_spans_nest_run_block_node(executor: str, exporter: InMemorySpanExporter) -> None:
    adapter, tracer = tracer_for(exporter)
    dr = build(adapter, executor)
    try:
        with anyio.fail_after(60), tracer.start_as_current_span("request") as request:
            result = await dr.aexecute(["total"], inputs=INPUTS)
    finally:
        await dr.aclose()
    assert result["total"] == 2
    spans = by_name(exporter.get_finished_spans())
    (run,) = spans["asyncdag.run"]
    assert parent_of(run) == request.get_span_context().span_id  # joins the caller's trace
    trace_id = run.context.trace_id
    assert {s.context.trace_id for group in spans.values() for s in group} == {trace_id}
    assert attrs(run)["asyncdag.outcome"] == "done"
    assert attrs(run)["asyncdag.outputs"] == ("total",)

    blocks = {attrs(s)["asyncdag.index"]: s for s in spans["block sku"]}
    assert sorted(blocks) == [(0,), (1,), (2,)]
    assert all(parent_of(b) == run.context.span_id for b in blocks.values())
    outcomes = [attrs(blocks[(i,)])["asyncdag.outcome"] for i in range(3)]
    assert outcomes == ["done", "delivered", "done"]  # on_error("deliver") ended item 1
    assert blocks[(1,)].status.status_code is trace.StatusCode.ERROR

    for name, items in (("price", [0, 1, 2]), ("stamp", [0, 2])):
        calls = {attrs(s)["asyncdag.index"]: s for s in spans[name]}
        assert sorted(calls) == [(i,) for i in items], name
        for index, span in calls.items():
            assert parent_of(span) == blocks[index].context.span_id
            assert attrs(span)["asyncdag.node"] == name
    failed = next(s for s in spans["price"] if attrs(s)["asyncdag.index"] == (1,))
    assert attrs(failed)["asyncdag.outcome"] == "failed"
    assert failed.status.status_code is trace.StatusCode.ERROR
    assert [e.name for e in failed.events] == ["exception"]
    assert "no price for bad-pear" in failed.events[0].attributes["exception.message"]

    for name in ("sku", "total"):  # outside any block: children of the run
        (span,) = spans[name]
        assert parent_of(span) == run.context.span_id and attrs(span)["asyncdag.index"] == ()
    for group in spans.values():
        for span in group:
            assert span.start_time <= span.end_time


async def test_processes_report_run_and_block_spans(exporter: InMemorySpanExporter) -> None:
    """What holds on processes with the engine as it is: the block instances run in workers,
    their spans are made in the parent, under the run."""
    adapter, _ = tracer_for(exporter)
    dr = build(adapter, "processes")
    try:
        with anyio.fail_after(60):
            assert (await dr.aexecute(["total"], inputs=INPUTS))["total"] == 2
    finally:
        await dr.aclose()
    spans = by_name(exporter.get_finished_spans())
    (run,) = spans["asyncdag.run"]
    blocks = {attrs(s)["asyncdag.index"]: s for s in spans["block sku"]}
    assert sorted(blocks) == [(0,), (1,), (2,)]
    assert all(parent_of(b) == run.context.span_id for b in blocks.values())
    assert attrs(blocks[(1,)])["asyncdag.outcome"] == "delivered"


async def test_concurrent_runs_get_a_tree_each(exporter: InMemorySpanExporter) -> None:
    adapter, _ = tracer_for(exporter)
    async with build(adapter, "asyncio") as dr:
        with anyio.fail_after(30):
            await asyncio.gather(
                dr.aexecute(["total"], inputs=INPUTS),
                dr.aexecute(["total"], inputs={"skus": ["x", "y"], "pause": 0.0}),
            )
    spans = exporter.get_finished_spans()
    runs = {s.context.span_id: s for s in spans if s.name == "asyncdag.run"}
    assert len(runs) == 2 and len({s.context.trace_id for s in runs.values()}) == 2
    blocks = [s for s in spans if s.name == "block sku"]
    per_run = sorted(sum(parent_of(b) == run_id for b in blocks) for run_id in runs)
    assert per_run == [2, 3]


async def test_a_cancelled_run_ends_every_span_as_stopped(exporter: InMemorySpanExporter) -> None:
    adapter, _ = tracer_for(exporter)
    async with build(adapter, "asyncio") as dr:
        with anyio.fail_after(30):
            run = asyncio.ensure_future(
                dr.aexecute(["total"], inputs={"skus": ["a"], "pause": 30.0})
            )
            while not adapter._runs or not next(iter(adapter._runs.values())).tasks:
                await asyncio.sleep(0.01)
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run
    spans = by_name(exporter.get_finished_spans())
    (run_span,) = spans["asyncdag.run"]
    assert attrs(run_span)["asyncdag.outcome"] == "stopped"
    (block,) = spans["block sku"]
    assert attrs(block)["asyncdag.outcome"] == "stopped"
    assert block.status.status_code is trace.StatusCode.ERROR
    assert adapter._runs == {}  # nothing kept after the run


def test_relayed_node_events_get_their_own_times(exporter: InMemorySpanExporter) -> None:
    """What the engine sends for a node that ran in a worker: events afterwards, with
    started_at / ended_at (time.time() floats)."""
    adapter, _ = tracer_for(exporter)
    adapter.run_before_graph_execution(run_id="r", final_vars=["total"], inputs={}, overrides={})
    adapter.run_before_task_execution(
        run_id="r", task_id="4", expander="sku", index=(4,), label="'fig'"
    )
    adapter.run_after_node_execution(
        run_id="r", node_name="stamp", node_tags={}, index=(4,), task_id="4", result=None,
        error=None, success=True, started_at=1_700_000_000.25, ended_at=1_700_000_001.5,
        executor="MultiProcessingExecutor", label="'fig'", attempts=2,
    )  # fmt: skip
    adapter.run_after_task_execution(
        run_id="r", task_id="4", expander="sku", index=(4,), success=True, error=None,
        outcome="done",
    )  # fmt: skip
    adapter.run_after_graph_execution(run_id="r", success=True, error=None, results={})
    spans = by_name(exporter.get_finished_spans())
    (node,) = spans["stamp"]
    assert node.start_time == pytest.approx(1_700_000_000_250_000_000, abs=1_000)  # 1 us
    assert node.end_time == pytest.approx(1_700_000_001_500_000_000, abs=1_000)
    assert parent_of(node) == spans["block sku"][0].context.span_id
    assert attrs(node)["asyncdag.executor"] == "MultiProcessingExecutor"
    assert attrs(node)["asyncdag.label"] == "'fig'"
    assert attrs(node)["asyncdag.attempts"] == 2
    assert attrs(spans["block sku"][0])["asyncdag.label"] == "'fig'"


def test_retries_are_events_of_the_node_span(exporter: InMemorySpanExporter) -> None:
    adapter, _ = tracer_for(exporter)
    adapter.run_before_graph_execution(run_id="r", final_vars=[], inputs={}, overrides={})
    adapter.run_before_node_execution(
        run_id="r", node_name="page", node_tags={}, index=(), task_id=None
    )
    adapter.run_before_node_retry(
        run_id="r", node_name="page", index=(), label=None, task_id=None, attempt=2,
        error=ConnectionError("reset"), delay=0.5,
    )  # fmt: skip
    adapter.run_after_node_execution(
        run_id="r", node_name="page", node_tags={}, index=(), task_id=None, result=1,
        error=None, success=True,
    )  # fmt: skip
    adapter.run_after_graph_execution(run_id="r", success=True, error=None, results={})
    (page,) = by_name(exporter.get_finished_spans())["page"]
    (event,) = page.events
    assert event.name == "retry"
    assert dict(event.attributes) == {
        "asyncdag.attempt": 2,
        "asyncdag.delay": 0.5,
        "exception.type": "ConnectionError",
        "exception.message": "reset",
    }


async def test_process_spans_show_when_the_node_ran_in_its_worker(
    exporter: InMemorySpanExporter,
) -> None:
    import os

    adapter, _ = tracer_for(exporter)
    dr = build(adapter, "processes")
    try:
        with anyio.fail_after(60):
            result = await dr.aexecute(["stamp"], inputs={"skus": ["a", "b"], "pause": 0.2})
    finally:
        await dr.aclose()
    spans = {
        attrs(s)["asyncdag.index"]: s for s in exporter.get_finished_spans() if s.name == "stamp"
    }
    for i, (started, ended, pid) in enumerate(result["stamp"]):
        assert pid != os.getpid()  # it did run in a worker
        span = spans[(i,)]
        # the span covers the node's own run, as measured in the worker...
        assert span.start_time <= started * 1e9 and span.end_time >= ended * 1e9
        # ...and starts before the run's parent saw anything of it come back
        assert span.start_time < ended * 1e9


async def test_labels_are_attributes(exporter: InMemorySpanExporter) -> None:
    adapter, _ = tracer_for(exporter)
    async with build(adapter, "asyncio") as dr:
        with anyio.fail_after(30):
            await dr.aexecute(["total"], inputs=INPUTS)
    spans = exporter.get_finished_spans()
    for name in ("price", "block sku"):
        labelled = [s for s in spans if s.name == name]
        assert sorted(attrs(s)["asyncdag.label"] for s in labelled) == sorted(map(repr, SKUS))


@pytest.mark.parametrize("executor", ["asyncio", "threads", "processes"])
async def test_executors_are_attributes(executor: str, exporter: InMemorySpanExporter) -> None:
    adapter, _ = tracer_for(exporter)
    dr = build(adapter, executor)
    try:
        with anyio.fail_after(60):
            await dr.aexecute(["total"], inputs=INPUTS)
    finally:
        await dr.aclose()
    price = [s for s in exporter.get_finished_spans() if s.name == "price"]
    assert price and all("asyncdag.executor" in attrs(s) for s in price)


async def test_a_nodes_own_spans_nest_under_its_span(exporter: InMemorySpanExporter) -> None:
    import types

    adapter, tracer = tracer_for(exporter)

    async def fetched(url: str) -> str:
        with tracer.start_as_current_span("http get"):
            return url.upper()

    module = types.ModuleType("own_spans")
    fetched.__module__ = module.__name__
    module.fetched = fetched  # type: ignore[attr-defined]
    async with driver.Builder().with_modules(module).with_adapters(adapter).build() as dr:
        await dr.aexecute(["fetched"], inputs={"url": "a"})
    spans = by_name(exporter.get_finished_spans())
    assert parent_of(spans["http get"][0]) == spans["fetched"][0].context.span_id


def test_the_wrapper_calls_the_node_as_it_is_outside_a_traced_call() -> None:
    adapter = OpenTelemetryTracer()
    seen: list[int] = []

    def node(x: int) -> int:
        seen.append(x)
        return x + 1

    async def anode(x: int) -> int:
        return x * 2

    wrapped = adapter.wrap_node(
        node_name="node", node_tags={}, fn=node, is_async=False, is_expander=False,
        in_block=False, node=None,
    )  # fmt: skip
    assert wrapped is not None and wrapped(1) == 2 and seen == [1]
    awrapped = adapter.wrap_node(
        node_name="anode", node_tags={}, fn=anode, is_async=True, is_expander=False,
        in_block=False, node=None,
    )  # fmt: skip
    assert awrapped is not None
    assert asyncio.run(awrapped(3)) == 6
    assert adapter.wrap_node(
        node_name="e", node_tags={}, fn=node, is_async=False, is_expander=True,
        in_block=False, node=None,
    ) is None  # fmt: skip
    with contextlib.suppress(ImportError):
        import cloudpickle

        assert cloudpickle.loads(cloudpickle.dumps(wrapped))(4) == 5  # travels to workers
