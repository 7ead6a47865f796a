"""Runs of static DAGs: concurrency, where code runs, outputs, overrides, many runs at once."""

from __future__ import annotations

import asyncio
import threading
from types import ModuleType

import anyio
import pytest
from dags import arithmetic, blocking, counted, mixed, rendezvous, sync_uses_asyncio, threads

from asyncdag import driver
from asyncdag.execution import executors

pytestmark = pytest.mark.anyio


def build(*modules: ModuleType) -> driver.Driver:
    return driver.Builder().with_modules(*modules).build()


# -- concurrency and threads -------------------------------------------------------------------


async def test_independent_async_nodes_run_concurrently() -> None:
    dr = build(rendezvous)
    inputs = {"left_arrived": asyncio.Event(), "right_arrived": asyncio.Event()}
    # each node waits for the other to have started: run one after the other, this deadlocks
    with anyio.fail_after(5):
        result = await dr.aexecute(["met", "left", "right"], inputs=inputs)
    reference = rendezvous._reference()
    assert result == {k: reference[k] for k in ("met", "left", "right")}


async def test_independent_sync_nodes_run_in_parallel_in_aexecute() -> None:
    dr = build(rendezvous)
    inputs = {"left_ready": threading.Event(), "right_ready": threading.Event()}
    with anyio.fail_after(5):
        result = await dr.aexecute(["met_sync", "left_sync", "right_sync"], inputs=inputs)
    reference = rendezvous._reference()
    assert result == {k: reference[k] for k in ("met_sync", "left_sync", "right_sync")}


def test_execute_with_a_thread_executor_runs_independent_sync_nodes_in_parallel() -> None:
    # execute() runs sync nodes inline only with the default executor; an explicit thread
    # executor is the documented way to run blocking sync nodes in parallel
    with (
        driver.Builder()
        .with_modules(rendezvous)
        .with_local_executor(executors.MultiThreadingExecutor(max_tasks=2))
        .build()
    ) as dr:
        inputs = {"left_ready": threading.Event(), "right_ready": threading.Event()}
        assert dr.execute(["met_sync"], inputs=inputs) == {"met_sync": True}


async def test_async_nodes_run_on_the_loop_and_sync_nodes_off_it() -> None:
    dr = build(threads)
    loop_thread = threading.get_ident()
    result = await dr.aexecute(["sync_thread", "async_thread"], inputs={"token": 7})
    sync_token, sync_ident = result["sync_thread"]
    async_token, async_ident = result["async_thread"]
    expected = threads._reference(7)
    assert (sync_token, async_token) == (expected["sync_thread"], expected["async_thread"])
    assert async_ident == loop_thread  # awaited on the loop, not wrapped in a thread
    assert sync_ident != loop_thread  # never blocks the loop


async def test_an_explicit_inline_executor_runs_sync_nodes_on_the_loop() -> None:
    dr = (
        driver.Builder()
        .with_modules(threads)
        .with_local_executor(executors.SynchronousLocalTaskExecutor())
        .build()
    )
    result = await dr.aexecute(["sync_thread"], inputs={"token": 1})
    assert result["sync_thread"] == (1, threading.get_ident())


async def test_a_thread_executor_runs_sync_nodes_off_the_loop() -> None:
    with (
        driver.Builder()
        .with_modules(threads)
        .with_local_executor(executors.MultiThreadingExecutor(max_tasks=2))
        .build()
    ) as dr:
        result = await dr.aexecute(["sync_thread"], inputs={"token": 1})
    assert result["sync_thread"][0] == 1
    assert result["sync_thread"][1] != threading.get_ident()


async def test_the_loop_keeps_running_while_a_sync_node_blocks() -> None:
    dr = build(blocking)
    started, release = threading.Event(), threading.Event()
    ticks = 0
    enough = asyncio.Event()
    target = -1

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1
            if target >= 0 and ticks >= target:
                enough.set()

    beat = asyncio.create_task(heartbeat())
    run = asyncio.create_task(
        dr.aexecute(["after"], inputs={"started": started, "release": release})
    )
    try:
        with anyio.fail_after(5):
            # wait off the loop for the node to be inside its blocking call
            assert await asyncio.to_thread(started.wait, 5)
            target = ticks + 5
            # the node is now blocked until we release it: the heartbeat must keep ticking
            await enough.wait()
            assert not release.is_set() and not run.done()
            release.set()
            result = await run
    finally:
        release.set()
        beat.cancel()
        with pytest.raises(asyncio.CancelledError):
            await beat
    assert result == {"after": blocking._reference()["after"]}


async def test_a_sync_node_may_run_its_own_event_loop_in_aexecute() -> None:
    dr = build(sync_uses_asyncio)
    assert await dr.aexecute(["plus_one"], inputs={"x": 2}) == {
        "plus_one": sync_uses_asyncio._reference(2)["plus_one"]
    }


def test_a_sync_node_may_run_its_own_event_loop_in_execute() -> None:
    # Plain sync code that calls asyncio.run() works under Hamilton's execute(); running sync
    # nodes inline on execute()'s private loop must not break it.
    dr = build(sync_uses_asyncio)
    assert dr.execute(["plus_one"], inputs={"x": 2}) == {
        "plus_one": sync_uses_asyncio._reference(2)["plus_one"]
    }


# -- outputs, inputs, overrides ----------------------------------------------------------------


async def test_the_result_holds_exactly_the_requested_outputs() -> None:
    dr = build(arithmetic)
    result = await dr.aexecute(["doubled", "total"], inputs={"x": 2})
    assert result == {k: arithmetic._reference(2)[k] for k in ("doubled", "total")}
    assert list(result) == ["doubled", "total"]


def test_execute_returns_exactly_the_requested_outputs() -> None:
    dr = build(counted)
    calls: list[str] = []
    assert dr.execute(["d"], inputs={"x": 5, "calls": calls}) == {"d": counted._reference(5)["d"]}
    assert sorted(calls) == ["a", "d"]  # nothing beyond what `d` needs


async def test_inputs_can_be_requested_as_outputs() -> None:
    dr = build(arithmetic)
    result = await dr.aexecute(["x", "step", "total"], inputs={"x": 2, "step": 1})
    assert result == {"x": 2, "step": 1, "total": arithmetic._reference(2, step=1)["total"]}


async def test_an_override_short_circuits_the_node_and_what_only_it_needed() -> None:
    dr = build(counted)
    calls: list[str] = []
    # `b` is given: neither `b` nor `a` (needed only by `b`) runs, and `x` is not needed
    result = await dr.aexecute(["c"], overrides={"b": 100}, inputs={"calls": calls})
    assert result == {"c": counted._reference(0, b=100)["c"]}
    assert calls == ["c"]


async def test_an_override_keeps_what_other_outputs_still_need() -> None:
    dr = build(counted)
    calls: list[str] = []
    result = await dr.aexecute(["c", "d"], overrides={"b": 100}, inputs={"x": 1, "calls": calls})
    reference = counted._reference(1, b=100)
    assert result == {"c": reference["c"], "d": reference["d"]}
    assert sorted(calls) == ["a", "c", "d"]  # `a` still runs for `d`; `b` never runs


async def test_an_overridden_output_is_returned_as_given() -> None:
    dr = build(counted)
    calls: list[str] = []
    result = await dr.aexecute(["a", "b"], overrides={"a": 41}, inputs={"calls": calls})
    assert result == {"a": 41, "b": 410}
    assert calls == ["b"]


def test_execute_honours_overrides_too() -> None:
    dr = build(counted)
    calls: list[str] = []
    result = dr.execute(["c"], overrides={"a": 1}, inputs={"calls": calls})
    assert result == {"c": counted._reference(0, a=1)["c"]}
    assert sorted(calls) == ["b", "c"]


async def test_a_chain_of_sync_nodes_delivers_every_value() -> None:
    dr = build(counted)
    calls: list[str] = []
    result = await dr.aexecute(["d", "e", "f"], inputs={"x": 2, "calls": calls})
    assert result == {k: counted._reference(2)[k] for k in ("d", "e", "f")}
    assert calls == ["a", "d", "e", "f"]


@pytest.mark.parametrize("run", ["aexecute", "execute"])
async def test_an_override_inside_a_chain_of_sync_nodes_short_circuits_it(run: str) -> None:
    dr = build(counted)
    calls: list[str] = []
    kwargs = {"overrides": {"e": 3}, "inputs": {"calls": calls}}
    if run == "aexecute":
        result = await dr.aexecute(["e", "f"], **kwargs)
    else:
        result = await asyncio.to_thread(dr.execute, ["e", "f"], **kwargs)
    assert result == {"e": 3, "f": counted._reference(0, e=3)["f"]}
    assert calls == ["f"]


# -- many runs on one driver -------------------------------------------------------------------


async def test_one_driver_serves_many_concurrent_runs() -> None:
    dr = build(mixed)
    runs = 300
    gate = mixed.Gate(expected=runs)  # opens only once every run has reached it
    before = asyncio.all_tasks()

    async def one(key: int) -> dict[str, object]:
        return await dr.aexecute(["summary"], inputs={"key": key, "gate": gate, "salt": f"/{key}"})

    with anyio.fail_after(10):
        results = await asyncio.gather(*(one(k) for k in range(runs)))
    assert gate.arrived == runs
    for key, result in enumerate(results):
        assert result == mixed._reference(key, salt=f"/{key}")
    assert asyncio.all_tasks() == before


async def test_execute_in_threads_and_aexecute_on_the_loop_share_one_driver() -> None:
    dr = build(counted)

    def in_thread(x: int) -> list[dict[str, int]]:
        return [dr.execute(["c", "f"], inputs={"x": x + i, "calls": []}) for i in range(20)]

    async def on_loop(x: int) -> dict[str, int]:
        return await dr.aexecute(["c", "f"], inputs={"x": x, "calls": []})

    with anyio.fail_after(10):
        threaded_runs = asyncio.gather(*(asyncio.to_thread(in_thread, 100 * t) for t in range(4)))
        looped_runs = asyncio.gather(*(on_loop(x) for x in range(50)))
        threaded, looped = await asyncio.gather(threaded_runs, looped_runs)
    for t, results in enumerate(threaded):
        for i, result in enumerate(results):
            reference = counted._reference(100 * t + i)
            assert result == {"c": reference["c"], "f": reference["f"]}
    for x, result in enumerate(looped):
        assert result == {"c": counted._reference(x)["c"], "f": counted._reference(x)["f"]}


async def test_a_finished_run_leaves_no_task_behind() -> None:
    dr = build(counted)
    before = asyncio.all_tasks()
    await dr.aexecute(["c", "d"], inputs={"x": 1, "calls": []})
    assert asyncio.all_tasks() == before


async def test_runs_with_different_outputs_and_overrides_interleave_correctly() -> None:
    dr = build(counted)
    requests = [
        (["c"], {}, {"x": 1}),
        (["d"], {}, {"x": 2}),
        (["c", "d"], {"b": 7}, {"x": 3}),
        (["c"], {"a": 5}, {}),
        (["b"], {}, {"x": 4}),
    ] * 20

    async def one(outputs: list[str], overrides: dict[str, int], inputs: dict[str, int]):
        result = await dr.aexecute(outputs, overrides=overrides, inputs={**inputs, "calls": []})
        reference = counted._reference(inputs.get("x", 0), **overrides)
        return result, {k: reference[k] for k in outputs}

    with anyio.fail_after(10):
        pairs = await asyncio.gather(*(one(*r) for r in requests))
    for got, expected in pairs:
        assert got == expected
