"""astream: per-item events while the run is going, index paths, one final result event, and
an early exit from the ``async for`` that cancels the run."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import anyio
import pytest

from asyncdag import driver
from asyncdag.errors import NodeExecutionError
from asyncdag.execution import executors
from tests.dags_stream import astream_dag, err_async_gen, err_block, nested3
from tests.dags_stream.probes import Failure, Gate

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("node", ["doubled", "tripled"])
async def test_item_events_arrive_while_the_generator_is_running(node: str) -> None:
    # The generator waits after item 0 until this loop has received an event for it.
    n = 6
    gate = Gate("astream consumer saw item 0")
    events = []
    async with driver.Builder().with_modules(astream_dag).build() as dr:
        with anyio.fail_after(5):
            async for event in dr.astream([node, "total"], inputs={"n": n, "gate": gate}):
                events.append(event)
                if event.kind == "item" and event.node == node:
                    gate.set()
    expected = astream_dag._reference(n)
    items = [e for e in events if e.kind == "item"]
    assert {e.node for e in items} == {node, "total"}  # only requested outputs are reported
    per_item = sorted((e.index, e.value) for e in items if e.node == node)
    assert per_item == [((i,), v) for i, v in enumerate(expected[node])]
    assert [e for e in items if e.node == "total"][0].index == ()
    final = events[-1]
    assert final.kind == "result"
    # in-block outputs were delivered item by item: the result holds the others only
    assert final.value == {"total": expected["total"]}
    assert [e.kind for e in events].count("result") == 1


async def test_nested_item_events_carry_index_paths() -> None:
    inputs = {"n_outer": 3, "n_middle": 2, "scale": 1}
    expected = nested3._reference(**inputs)
    events = []
    async with driver.Builder().with_modules(nested3).build() as dr:
        with anyio.fail_after(5):
            async for event in dr.astream(["leaf", "inner_sum", "total"], inputs=inputs):
                events.append(event)
    leaf = {e.index: e.value for e in events if e.kind == "item" and e.node == "leaf"}
    assert leaf == {
        (a, b, c): value
        for a, level in enumerate(expected["leaf"])
        for b, values in enumerate(level)
        for c, value in enumerate(values)
    }
    inner = {e.index: e.value for e in events if e.kind == "item" and e.node == "inner_sum"}
    assert inner == {
        (a, b): value
        for a, values in enumerate(expected["inner_sum"])
        for b, value in enumerate(values)
    }
    assert events[-1].kind == "result"
    assert events[-1].value == {"total": expected["total"]}


@pytest.fixture(scope="module")
def process_executor() -> Iterator[executors.MultiProcessingExecutor]:
    ex = executors.MultiProcessingExecutor(max_tasks=2)
    yield ex
    ex.close()


@pytest.mark.parametrize("executor", ["inline", "threads", "asyncio", "processes"])
async def test_nested_item_events_under_every_executor(
    executor: str, process_executor: executors.MultiProcessingExecutor
) -> None:
    # Every in-block output is reported once per item, wherever the block ran.
    inputs = {"n_outer": 2, "n_middle": 1, "scale": 1}
    expected = nested3._reference(**inputs)
    ex: executors.TaskExecutor = {
        "inline": executors.SynchronousLocalTaskExecutor,
        "threads": lambda: executors.MultiThreadingExecutor(max_tasks=3),
        "asyncio": executors.AsyncioExecutor,
        "processes": lambda: process_executor,
    }[executor]()
    dr = driver.Builder().with_modules(nested3).with_remote_executor(ex).build()
    outputs = ["leaf", "inner_sum", "outer_value"]
    seen: dict[str, set[tuple[int, ...]]] = {name: set() for name in outputs}
    with anyio.fail_after(20):
        async for event in dr.astream(outputs, inputs=inputs):
            if event.kind == "item":
                seen[event.node].add(event.index)
    dr.local.close()
    if executor != "processes":
        ex.close()
    assert seen == {
        "leaf": {(0, 0, 0), (1, 0, 0), (1, 1, 0), (1, 1, 1)},
        "inner_sum": {(0, 0), (1, 0), (1, 1)},
        "outer_value": {(0,), (1,)},
    }
    assert expected["leaf"] == [[[0]], [[100], [110, 111]]]


async def test_a_failing_node_raises_from_the_async_for() -> None:
    probe = Failure(fail_at=2)
    received = []
    async with driver.Builder().with_modules(err_async_gen, err_block).build() as dr:
        with anyio.fail_after(5), pytest.raises(NodeExecutionError) as info:
            async for event in dr.astream(["work"], inputs={"limit": -1, "probe": probe}):
                received.append(event)
    assert info.value.node == "work"
    assert info.value.index == (2,)
    assert all(e.kind == "item" for e in received)


async def test_breaking_out_early_cancels_the_run() -> None:
    probe = Failure(hold=False)  # an endless generator; no item fails
    async with driver.Builder().with_modules(err_async_gen, err_block).build() as dr:
        with anyio.fail_after(5):
            async for event in dr.astream(["work"], inputs={"limit": -1, "probe": probe}):
                assert event.kind == "item"
                break
        # Nothing holds the stream any more: the loop closes it, which cancels the run.
        with anyio.fail_after(2):
            await probe.closed.wait()
        started = probe.started
        for _ in range(10):
            await asyncio.sleep(0)
        assert probe.started == started  # no new items start


async def test_closing_the_stream_leaves_no_task_behind() -> None:
    probe = Failure(hold=False)
    tasks_before = asyncio.all_tasks()
    async with driver.Builder().with_modules(err_async_gen, err_block).build() as dr:
        with anyio.fail_after(5):
            stream = dr.astream(["work", "total"], inputs={"limit": -1, "probe": probe})
            async with contextlib.aclosing(stream):
                async for event in stream:
                    assert event.kind == "item"
                    if event.index == (5,):
                        break
        # aclose() returned: the run is over, its generator closed, its tasks gone.
        assert probe.closed.is_set()
        assert probe.calls["total"] == 0
        assert asyncio.all_tasks() == tasks_before


async def test_outputs_given_as_functions_stream_too() -> None:
    # Hamilton scripts name outputs by their functions; astream accepts them as execute does
    async with driver.Builder().with_modules(nested3).build() as dr:
        with anyio.fail_after(10):
            events = [
                e
                async for e in dr.astream(
                    [nested3.total], inputs={"n_outer": 2, "n_middle": 1, "scale": 1}
                )
            ]
    assert events[-1].kind == "result" and set(events[-1].value) == {"total"}
