"""Streaming fan-out: every kind of expander, dispatch before the generator ends, grouping
strategies and executors giving the same results."""

from __future__ import annotations

import threading
import types
from collections.abc import Iterator

import anyio
import pytest

from asyncdag import driver
from asyncdag.execution import executors, grouping
from tests.dags_stream import (
    kind_async_gen,
    kind_async_iterable,
    kind_block,
    kind_block_async,
    kind_iterator,
    kind_list,
    kind_sync_gen,
    map_reduce,
    map_reduce_async,
    nested3,
)
from tests.dags_stream.probes import Calls, Gate

pytestmark = pytest.mark.anyio

KINDS = [kind_sync_gen, kind_async_gen, kind_list, kind_async_iterable, kind_iterator]
BLOCKS = [kind_block, kind_block_async]


def _id(module: types.ModuleType) -> str:
    return module.__name__.rsplit(".", 1)[-1]


def _inputs(n: int) -> dict[str, object]:
    return {"n": n, "gate": Gate("item 0's block ran"), "calls": Calls()}


@pytest.mark.parametrize("block", BLOCKS, ids=_id)
@pytest.mark.parametrize("kind", KINDS, ids=_id)
async def test_each_item_is_dispatched_before_the_generator_ends(
    kind: types.ModuleType, block: types.ModuleType
) -> None:
    # The generators wait after item 0 for a gate that item 0's block opens: an engine that
    # drained the generator before dispatching would hang here.
    inputs = _inputs(20)
    async with driver.Builder().with_modules(kind, block).build() as dr:
        with anyio.fail_after(5):
            result = await dr.aexecute(["total", "doubled"], inputs=inputs)
    assert result == block._reference(20)
    calls = inputs["calls"]
    assert isinstance(calls, Calls)
    assert calls["items"] == 1
    assert calls["doubled"] == 20


@pytest.mark.parametrize("kind", [kind_sync_gen, kind_iterator], ids=_id)
async def test_a_sync_generator_is_advanced_off_the_loop_thread(kind: types.ModuleType) -> None:
    inputs = _inputs(50)
    calls = inputs["calls"]
    assert isinstance(calls, Calls)
    async with driver.Builder().with_modules(kind, kind_block_async).build() as dr:
        with anyio.fail_after(5):
            await dr.aexecute(["total"], inputs=inputs)
    assert calls["items.next"] == 50
    assert threading.get_ident() not in calls.threads["items.next"]


@pytest.mark.parametrize("kind", [kind_sync_gen, kind_iterator], ids=_id)
def test_execute_advances_a_sync_generator_off_the_loop_thread(kind: types.ModuleType) -> None:
    # execute() runs cheap sync code inline on its private loop, but a generator may block:
    # here it blocks until an *async* block (which needs the loop) opens its gate.
    inputs = _inputs(10)
    calls = inputs["calls"]
    assert isinstance(calls, Calls)
    with driver.Builder().with_modules(kind, kind_block_async).build() as dr:
        result = dr.execute(["total"], inputs=inputs)
    assert result == {"total": kind_block_async._reference(10)["total"]}
    assert threading.get_ident() not in calls.threads["items.next"]


@pytest.mark.parametrize("kind", KINDS, ids=_id)
def test_execute_runs_every_kind_of_expander(kind: types.ModuleType) -> None:
    inputs = _inputs(7)
    with driver.Builder().with_modules(kind, kind_block).build() as dr:
        assert dr.execute(["total", "doubled"], inputs=inputs) == kind_block._reference(7)


@pytest.mark.parametrize("kind", KINDS, ids=_id)
async def test_empty_expansion_of_every_kind(kind: types.ModuleType) -> None:
    inputs = _inputs(0)
    async with driver.Builder().with_modules(kind, kind_block).build() as dr:
        with anyio.fail_after(5):
            result = await dr.aexecute(["total", "doubled"], inputs=inputs)
    assert result == {"total": 0, "doubled": []}


# -- grouping strategies and executors --------------------------------------------------------

CASES = {
    "map_reduce": (map_reduce, {"n": 12, "offset": 5}, ["total", "as_list", "shifted"]),
    "map_reduce_async": (map_reduce_async, {"n": 9, "offset": -2}, ["total", "shifted"]),
    "nested3": (
        nested3,
        {"n_outer": 3, "n_middle": 2, "scale": 3},
        ["total", "leaf", "inner_sum", "middle_values", "outer_value"],
    ),
}


def _expected(case: str) -> dict[str, object]:
    module, inputs, outputs = CASES[case]
    reference = module._reference(**inputs)
    return {name: reference[name] for name in outputs}


@pytest.mark.parametrize(
    "strategy", [grouping.GroupByRepeatableBlocks(), grouping.GroupNodesIndividually()], ids=repr
)
@pytest.mark.parametrize("case", sorted(CASES))
async def test_grouping_strategies_give_the_same_results(
    case: str, strategy: grouping.GroupingStrategy
) -> None:
    module, inputs, outputs = CASES[case]
    async with driver.Builder().with_modules(module).with_grouping_strategy(strategy).build() as dr:
        with anyio.fail_after(10):
            assert await dr.aexecute(outputs, inputs=inputs) == _expected(case)


@pytest.mark.parametrize(
    "strategy", [grouping.GroupByRepeatableBlocks(), grouping.GroupNodesIndividually()], ids=repr
)
def test_grouping_strategies_under_execute(strategy: grouping.GroupingStrategy) -> None:
    module, inputs, outputs = CASES["nested3"]
    builder = driver.Builder().with_modules(module).with_grouping_strategy(strategy)
    with builder.build() as dr:
        assert dr.execute(outputs, inputs=inputs) == _expected("nested3")


LOCAL_EXECUTORS = {
    "inline": executors.SynchronousLocalTaskExecutor,
    "asyncio": executors.AsyncioExecutor,
    "threads": lambda: executors.MultiThreadingExecutor(max_tasks=4),
}


@pytest.mark.parametrize("executor", sorted(LOCAL_EXECUTORS))
@pytest.mark.parametrize("case", sorted(CASES))
async def test_executors_give_the_same_results(case: str, executor: str) -> None:
    module, inputs, outputs = CASES[case]
    ex = LOCAL_EXECUTORS[executor]()
    dr = driver.Builder().with_modules(module).with_local_executor(ex).with_remote_executor(ex)
    async with dr.build() as built:
        with anyio.fail_after(10):
            assert await built.aexecute(outputs, inputs=inputs) == _expected(case)


@pytest.mark.parametrize("executor", sorted(LOCAL_EXECUTORS))
def test_executors_under_execute(executor: str) -> None:
    module, inputs, outputs = CASES["map_reduce_async"]
    ex = LOCAL_EXECUTORS[executor]()
    dr = driver.Builder().with_modules(module).with_local_executor(ex).with_remote_executor(ex)
    with dr.build() as built:
        assert built.execute(outputs, inputs=inputs) == _expected("map_reduce_async")


@pytest.fixture(scope="module")
def process_executor() -> Iterator[executors.MultiProcessingExecutor]:
    # One pool for the module: worker processes are slow to start.
    ex = executors.MultiProcessingExecutor(max_tasks=2)
    yield ex
    ex.close()


@pytest.mark.parametrize("case", ["map_reduce_async", "nested3"])
async def test_process_executor_gives_the_same_results(
    case: str, process_executor: executors.MultiProcessingExecutor
) -> None:
    module, inputs, outputs = CASES[case]
    # Not a context manager: closing the driver would close the shared pool.
    dr = driver.Builder().with_modules(module).with_remote_executor(process_executor).build()
    try:
        with anyio.fail_after(30):
            assert await dr.aexecute(outputs, inputs=inputs) == _expected(case)
    finally:
        dr.local.close()


@pytest.mark.parametrize("executor", ["asyncio", "threads"])
async def test_concurrent_runs_on_one_driver_keep_their_own_results(executor: str) -> None:
    module, _, outputs = CASES["nested3"]
    inputs = [{"n_outer": a % 4, "n_middle": a % 3, "scale": a} for a in range(30)]
    ex = LOCAL_EXECUTORS[executor]()
    builder = driver.Builder().with_modules(module).with_remote_executor(ex)
    results: dict[int, dict[str, object]] = {}
    async with builder.with_local_executor(ex).build() as dr:

        async def one(k: int) -> None:
            results[k] = await dr.aexecute(outputs, inputs=inputs[k])

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                for k in range(len(inputs)):
                    tg.start_soon(one, k)
    for k, given in enumerate(inputs):
        reference = module._reference(**given)
        assert results[k] == {name: reference[name] for name in outputs}
