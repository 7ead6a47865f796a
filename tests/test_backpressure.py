"""Backpressure and limits: the window bounds how far a generator runs ahead of its collectors;
``max_tasks`` bounds the block instances running at once, also across runs.

The bounds asserted here follow from the design (DESIGN.md §3, ``_fanout``): before asking the
generator for an item the expansion takes one credit of the window, and the credit comes back
when every collector has taken the item (a list collector when the item's instance is done, a
streaming collector when it takes the value from its iterator). Hence, counting with a meter in
user code (``yielded`` in the generator just before ``yield``, ``consumed`` in the collector just
after receiving a value):

- async generator, async streaming collector: both run on the loop, and nothing runs between
  the credit's return and the collector's count, so ``yielded - consumed <= window``;
- sync generator: its thread may take the returned credit and yield once before the collector
  (on the loop) counts, so ``<= window + 1``;
- sync streaming collector: it takes values in batches (one loop round trip per batch), and a
  batch's credits return before its thread counts them; a batch holds at most ``window``
  values, so ``<= 2 * window``.
"""

from __future__ import annotations

import asyncio
import threading
import types

import anyio
import pytest

from asyncdag import driver
from asyncdag.errors import NodeExecutionError
from asyncdag.execution import executors, grouping
from tests.dags_stream import (
    bp_async_gen,
    bp_block,
    bp_sync_gen,
    err_async_gen,
    err_block,
    limits,
    limits_sync,
    nested3,
)
from tests.dags_stream.probes import Failure, Meter, Tracker

pytestmark = pytest.mark.anyio


def _bound(generator: types.ModuleType, collector: str, window: int) -> int:
    if collector == "consume_sync":
        return 2 * window
    return window + (1 if generator is bp_sync_gen else 0)


def _id(module: types.ModuleType) -> str:
    return module.__name__.rsplit(".", 1)[-1]


@pytest.mark.parametrize("collector", ["consume", "consume_sync"])
@pytest.mark.parametrize("generator", [bp_async_gen, bp_sync_gen], ids=_id)
async def test_a_window_of_8_bounds_a_generator_of_10000_items(
    generator: types.ModuleType, collector: str
) -> None:
    n, window = 10_000, 8
    # The collector waits until the generator is `window` items ahead before consuming:
    # a window smaller than configured would hang (fail_after).
    meter = Meter(expect_ahead=window)
    builder = driver.Builder().with_modules(generator, bp_block).with_window(window)
    async with builder.build() as dr:
        with anyio.fail_after(20):
            result = await dr.aexecute([collector], inputs={"n": n, "meter": meter})
    assert result == {collector: sum(range(n))}
    assert meter.yielded == meter.consumed == n
    assert window <= meter.max_ahead <= _bound(generator, collector, window)


async def test_the_default_window_bounds_a_generator_of_200000_items() -> None:
    # One case only (about 5 s): a sync generator on its producer thread, the default window.
    generator, n, window = bp_sync_gen, 200_000, driver.DEFAULT_WINDOW
    meter = Meter(expect_ahead=window)
    async with driver.Builder().with_modules(generator, bp_block).build() as dr:
        with anyio.fail_after(30):
            result = await dr.aexecute(["consume"], inputs={"n": n, "meter": meter})
    assert result == {"consume": sum(range(n))}
    assert meter.max_ahead <= _bound(generator, "consume", window)


@pytest.mark.parametrize("generator", [bp_async_gen, bp_sync_gen], ids=_id)
async def test_a_list_collector_releases_the_window_as_instances_finish(
    generator: types.ModuleType,
) -> None:
    n, window = 500, 8
    meter = Meter(expect_ahead=window)
    builder = driver.Builder().with_modules(generator, bp_block).with_window(window)
    async with builder.build() as dr:
        with anyio.fail_after(10):
            result = await dr.aexecute(["listed"], inputs={"n": n, "meter": meter})
    assert result == {"listed": sum(range(n))}
    assert meter.max_ahead <= window + (1 if generator is bp_sync_gen else 0)


async def test_a_window_of_one_still_completes() -> None:
    meter = Meter(expect_ahead=1)
    builder = driver.Builder().with_modules(bp_sync_gen, bp_block).with_window(1)
    async with builder.build() as dr:
        with anyio.fail_after(10):
            result = await dr.aexecute(["consume", "listed"], inputs={"n": 50, "meter": meter})
    assert result == {"consume": sum(range(50)), "listed": sum(range(50))}


# -- max_tasks ---------------------------------------------------------------------------------


def _limited(module: types.ModuleType, executor: executors.TaskExecutor) -> driver.Driver:
    return driver.Builder().with_modules(module).with_remote_executor(executor).build()


@pytest.mark.parametrize(
    "make",
    [
        lambda: executors.AsyncioExecutor(max_tasks=3),
        lambda: executors.MultiThreadingExecutor(max_tasks=3),
    ],
    ids=["asyncio", "threads"],
)
@pytest.mark.parametrize("module", [limits, limits_sync], ids=_id)
async def test_max_tasks_bounds_block_instances_running_at_once(
    module: types.ModuleType, make: object
) -> None:
    # The first 3 instances wait until 3 run at once (so a limit below 3 would hang);
    # the tracker's maximum shows that no more than 3 ever ran.
    tracker = Tracker(fill=3)
    executor = make()  # type: ignore[operator]
    async with _limited(module, executor) as dr:
        with anyio.fail_after(10):
            result = await dr.aexecute(["total"], inputs={"n": 20, "tracker": tracker})
    executor.close()
    assert result == {"total": sum(range(20))}
    assert tracker.entered == 20
    assert tracker.max_running == 3


@pytest.mark.parametrize("module", [limits, limits_sync], ids=_id)
async def test_max_tasks_holds_across_concurrent_runs_sharing_the_driver(
    module: types.ModuleType,
) -> None:
    tracker = Tracker(fill=3)
    results: list[dict[str, object]] = []
    async with _limited(module, executors.AsyncioExecutor(max_tasks=3)) as dr:

        async def one_run(n: int) -> None:
            results.append(await dr.aexecute(["total"], inputs={"n": n, "tracker": tracker}))

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(one_run, 12)
                tg.start_soon(one_run, 15)
    assert sorted(r["total"] for r in results) == [sum(range(12)), sum(range(15))]
    assert tracker.entered == 27
    assert tracker.max_running == 3


async def test_max_tasks_holds_across_drivers_sharing_the_executor() -> None:
    tracker = Tracker(fill=3)
    executor = executors.AsyncioExecutor(max_tasks=3)
    results = []
    async with _limited(limits, executor) as first, _limited(limits, executor) as second:

        async def one_run(dr: driver.Driver, n: int) -> None:
            results.append(await dr.aexecute(["total"], inputs={"n": n, "tracker": tracker}))

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(one_run, first, 10)
                tg.start_soon(one_run, second, 10)
    assert results == [{"total": 45}, {"total": 45}]
    assert tracker.max_running == 3


def test_max_tasks_holds_across_execute_calls_from_two_threads() -> None:
    # execute() runs each call on its calling thread's private loop; the executor's bound is
    # still one bound. The first four instances wait (at most 0.5 s) for a fourth to run at
    # once: with a bound of 3 none may ever come.
    tracker = Tracker(fill=4, patience=0.5)
    executor = executors.AsyncioExecutor(max_tasks=3)
    results: list[dict[str, object]] = []
    with _limited(limits_sync, executor) as dr:

        def one_run() -> None:
            results.append(dr.execute(["total"], inputs={"n": 6, "tracker": tracker}))

        threads = [threading.Thread(target=one_run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
    assert results == [{"total": 15}, {"total": 15}]
    assert tracker.max_running <= 3


@pytest.mark.parametrize(
    "strategy", [grouping.GroupByRepeatableBlocks(), grouping.GroupNodesIndividually()], ids=repr
)
async def test_nested_blocks_run_inside_their_parents_slot(
    strategy: grouping.GroupingStrategy,
) -> None:
    # With a single slot, a nested instance that needed a slot of its own would deadlock.
    inputs = {"n_outer": 3, "n_middle": 2, "scale": 1}
    builder = (
        driver.Builder()
        .with_modules(nested3)
        .with_remote_executor(executors.AsyncioExecutor(max_tasks=1))
        .with_grouping_strategy(strategy)
    )
    async with builder.build() as dr:
        with anyio.fail_after(10):
            result = await dr.aexecute(["total"], inputs=inputs)
    assert result == {"total": nested3._reference(**inputs)["total"]}


@pytest.mark.parametrize("end", ["failure", "cancellation"])
async def test_a_run_that_fails_or_is_cancelled_gives_back_its_max_tasks_slots(end: str) -> None:
    # Three instances hold the three slots when the run ends; the next runs need slots too.
    executor = executors.AsyncioExecutor(max_tasks=3)
    builder = driver.Builder().with_modules(err_async_gen, err_block)
    async with builder.with_remote_executor(executor).build() as dr:
        for _ in range(2):
            probe = Failure(fail_at=1 if end == "failure" else -1, wait_started=3, hold=True)
            run = asyncio.create_task(dr.aexecute(["total"], inputs={"limit": -1, "probe": probe}))
            with anyio.fail_after(5):
                await probe.enough.wait()
            if end == "cancellation":
                run.cancel()
            with anyio.fail_after(2), pytest.raises((NodeExecutionError, asyncio.CancelledError)):
                await run
            assert probe.started == 3
            with anyio.fail_after(2):
                result = await dr.aexecute(["total"], inputs={"limit": 8, "probe": Failure()})
            assert result == {"total": sum(range(8))}
