"""Errors of static runs: bad requests fail before user code; failures and cancellation clean up."""

from __future__ import annotations

import asyncio
import threading
from types import ModuleType
from typing import Any

import anyio
import pytest
from dags import arithmetic, blocking, cancellable, counted, failing, slow_cleanup

from asyncdag import driver
from asyncdag.errors import (
    AsyncDagError,
    ExecutionRequestError,
    InputTypeError,
    MissingInputError,
    NodeExecutionError,
    UnknownOutputError,
)


def build(*modules: ModuleType) -> driver.Driver:
    return driver.Builder().with_modules(*modules).build()


def failing_inputs(observed: list[str]) -> dict[str, Any]:
    return {
        "loop_started": asyncio.Event(),
        "thread_started": threading.Event(),
        "observed": observed,
    }


# -- bad requests: raised before any user code -------------------------------------------------


@pytest.mark.anyio
async def test_missing_inputs_are_named_before_any_node_runs() -> None:
    dr = build(counted)
    calls: list[str] = []
    with pytest.raises(MissingInputError) as info:
        await dr.aexecute(["c", "d"], inputs={"calls": calls})
    assert calls == []
    assert set(info.value.missing) == {"x"}
    assert info.value.missing["x"] == ["a"]
    assert "'x'" in str(info.value)


def test_every_missing_input_is_named() -> None:
    dr = build(arithmetic)
    with pytest.raises(MissingInputError) as info:
        dr.execute(["total"])
    # `step` has a default: it is not missing
    assert set(info.value.missing) == {"x"}

    from dags import future_annotations

    dr = build(future_annotations)
    with pytest.raises(MissingInputError) as info:
        dr.execute(["report"])
    assert set(info.value.missing) == {"dx"}


@pytest.mark.anyio
async def test_unknown_outputs_are_named_before_any_node_runs() -> None:
    dr = build(counted)
    calls: list[str] = []
    with pytest.raises(UnknownOutputError) as info:
        await dr.aexecute(["c", "nope", "also_nope"], inputs={"x": 1, "calls": calls})
    assert calls == []
    assert "'nope'" in str(info.value) and "'also_nope'" in str(info.value)
    assert "'c'" not in str(info.value).split("unknown output(s)")[-1].split("]")[0]


@pytest.mark.anyio
async def test_an_input_of_the_wrong_type_names_the_node_before_any_node_runs() -> None:
    dr = build(counted)
    calls: list[str] = []
    with pytest.raises(InputTypeError) as info:
        await dr.aexecute(["c"], inputs={"x": "one", "calls": calls})
    assert calls == []
    message = str(info.value)
    assert "'x'" in message and "'a'" in message
    assert isinstance(info.value, ExecutionRequestError)


def test_an_optional_input_of_the_wrong_type_is_rejected() -> None:
    dr = build(arithmetic)
    with pytest.raises(InputTypeError) as info:
        dr.execute(["offset"], inputs={"x": 1, "step": "ten"})
    assert "'step'" in str(info.value) and "'offset'" in str(info.value)


@pytest.mark.anyio
async def test_a_bad_request_leaves_the_driver_usable() -> None:
    dr = build(counted)
    with pytest.raises(MissingInputError):
        await dr.aexecute(["c"], inputs={"calls": []})
    assert await dr.aexecute(["c"], inputs={"x": 2, "calls": []}) == {
        "c": counted._reference(2)["c"]
    }


# -- a failing node ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_failing_async_node_names_itself_and_cancels_its_siblings() -> None:
    dr = build(failing)
    observed: list[str] = []
    before = asyncio.all_tasks()
    with anyio.fail_after(5), pytest.raises(NodeExecutionError) as info:
        await dr.aexecute(["async_failure"], inputs=failing_inputs(observed))
    err = info.value
    assert err.node == "boom"
    assert err.index == ()
    assert isinstance(err.__cause__, ValueError)
    assert str(err.__cause__) == "boom"
    assert "'boom'" in str(err)
    # the sibling blocked on the loop was cancelled, and nothing of the run is left running
    assert observed == ["stuck cancelled"]
    assert asyncio.all_tasks() == before


@pytest.mark.anyio
async def test_a_failing_sync_node_names_itself_and_cancels_its_siblings() -> None:
    dr = build(failing)
    observed: list[str] = []
    before = asyncio.all_tasks()
    with anyio.fail_after(5), pytest.raises(NodeExecutionError) as info:
        await dr.aexecute(["sync_failure"], inputs=failing_inputs(observed))
    err = info.value
    assert err.node == "sync_boom"
    assert err.index == ()
    assert isinstance(err.__cause__, KeyError)
    assert observed == ["stuck cancelled"]
    assert asyncio.all_tasks() == before


def test_a_failing_node_in_execute_raises_node_execution_error() -> None:
    dr = build(failing)
    with pytest.raises(NodeExecutionError) as info:
        dr.execute(["plain_failure"], inputs={"divisor": 0})
    assert info.value.node == "plain_failure"
    assert info.value.index == ()
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert isinstance(info.value, AsyncDagError)
    # the driver keeps working
    assert dr.execute(["plain_failure"], inputs={"divisor": 4}) == {
        "plain_failure": failing._reference(4)["plain_failure"]
    }


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("output", "failing_node"),
    [
        pytest.param("plain_failure", "plain_failure", id="single-sync-node"),
        pytest.param("inverse_label", "inverse", id="middle-of-a-sync-chain"),
    ],
)
async def test_a_failing_sync_node_in_aexecute_raises_node_execution_error(
    output: str, failing_node: str
) -> None:
    dr = build(failing)
    before = asyncio.all_tasks()
    with anyio.fail_after(5), pytest.raises(NodeExecutionError) as info:
        await dr.aexecute([output], inputs={"divisor": 0})
    assert info.value.node == failing_node
    assert info.value.index == ()
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert asyncio.all_tasks() == before
    assert await dr.aexecute([output], inputs={"divisor": 4}) == {
        output: failing._reference(4)[output]
    }


def test_a_failing_sync_chain_in_execute_names_the_failing_node() -> None:
    dr = build(failing)
    with pytest.raises(NodeExecutionError) as info:
        dr.execute(["inverse_label"], inputs={"divisor": 0})
    assert info.value.node == "inverse"
    assert isinstance(info.value.__cause__, ZeroDivisionError)


@pytest.mark.anyio
async def test_a_failed_run_does_not_disturb_concurrent_runs() -> None:
    dr = build(failing, cancellable)
    observed: list[str] = []
    gate, entered = asyncio.Event(), asyncio.Event()
    healthy = asyncio.create_task(
        dr.aexecute(["result"], inputs={"entered": entered, "gate": gate, "observed": observed})
    )
    with anyio.fail_after(5):
        await entered.wait()
        with pytest.raises(NodeExecutionError):
            await dr.aexecute(["async_failure"], inputs=failing_inputs(observed))
        assert observed == ["stuck cancelled"]  # only the failing run's sibling
        gate.set()
        assert await healthy == {"result": cancellable._reference()["result"]}


@pytest.mark.anyio
async def test_a_failure_does_not_wait_for_a_sync_node_blocked_in_a_thread() -> None:
    dr = build(blocking)
    started, release, fail_now = threading.Event(), threading.Event(), asyncio.Event()
    inputs = {"started": started, "release": release, "fail_now": fail_now}
    run = asyncio.create_task(dr.aexecute(["blocked_and_failing"], inputs=inputs))
    try:
        with anyio.fail_after(5):
            assert await asyncio.to_thread(started.wait, 5)
            fail_now.set()
            with pytest.raises(NodeExecutionError) as info:
                await run
        # the run failed while the sync node was still blocked: thread work is abandoned
        assert not release.is_set()
        assert info.value.node == "fails_on_signal"
        assert isinstance(info.value.__cause__, RuntimeError)
    finally:
        release.set()


# -- cancellation ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_cancelling_the_caller_cancels_the_run_and_the_driver_keeps_serving() -> None:
    dr = build(cancellable)
    observed: list[str] = []
    entered, gate = asyncio.Event(), asyncio.Event()
    before = asyncio.all_tasks()
    run = asyncio.create_task(
        dr.aexecute(["result"], inputs={"entered": entered, "gate": gate, "observed": observed})
    )
    with anyio.fail_after(5):
        await entered.wait()  # the node is now blocked in `await gate.wait()`
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
    assert observed == ["waiting cancelled"]
    assert asyncio.all_tasks() == before

    # a new run on the same driver works
    entered, gate = asyncio.Event(), asyncio.Event()
    gate.set()
    with anyio.fail_after(5):
        result = await dr.aexecute(
            ["result"], inputs={"entered": entered, "gate": gate, "observed": observed}
        )
    assert result == {"result": cancellable._reference()["result"]}
    assert observed == ["waiting cancelled"]


@pytest.mark.anyio
async def test_a_cancel_scope_around_aexecute_cancels_the_run() -> None:
    dr = build(cancellable)
    observed: list[str] = []
    entered, gate = asyncio.Event(), asyncio.Event()
    before = asyncio.all_tasks()
    inputs = {"entered": entered, "gate": gate, "observed": observed}
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:

            async def cancel_when_entered() -> None:
                await entered.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(cancel_when_entered)
            await dr.aexecute(["result"], inputs=inputs)
            pytest.fail("aexecute returned although its run was cancelled")
    assert observed == ["waiting cancelled"]
    assert asyncio.all_tasks() == before


@pytest.mark.anyio
async def test_cancelling_does_not_wait_for_a_sync_node_blocked_in_a_thread() -> None:
    dr = build(blocking)
    started, release = threading.Event(), threading.Event()
    before = asyncio.all_tasks()
    run = asyncio.create_task(
        dr.aexecute(["after"], inputs={"started": started, "release": release})
    )
    try:
        with anyio.fail_after(5):
            assert await asyncio.to_thread(started.wait, 5)
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run
        assert not release.is_set()  # cancelled promptly, while the thread was still blocked
        assert asyncio.all_tasks() == before
    finally:
        release.set()
    # the driver serves the next run
    started, release = threading.Event(), threading.Event()
    release.set()
    with anyio.fail_after(5):
        result = await dr.aexecute(["after"], inputs={"started": started, "release": release})
    assert result == {"after": blocking._reference()["after"]}


@pytest.mark.anyio
async def test_many_runs_some_cancelled_some_failing_the_rest_correct() -> None:
    dr = build(cancellable, failing)
    runs = 150
    observed: list[str] = []
    gate = asyncio.Event()  # shared: the surviving runs all finish when it opens
    entered = [asyncio.Event() for _ in range(runs)]
    before = asyncio.all_tasks()

    async def one(k: int) -> object:
        if k % 3 == 2:
            return await dr.aexecute(["inverse_label"], inputs={"divisor": 0})
        inputs = {"entered": entered[k], "gate": gate, "observed": observed, "suffix": f"-{k}"}
        return await dr.aexecute(["result"], inputs=inputs)

    tasks = [asyncio.create_task(one(k)) for k in range(runs)]
    with anyio.fail_after(10):
        for k in range(runs):
            if k % 3 != 2:
                await entered[k].wait()
        for k in range(0, runs, 3):
            tasks[k].cancel()
        gate.set()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    for k, outcome in enumerate(outcomes):
        if k % 3 == 0:
            assert isinstance(outcome, asyncio.CancelledError)
        elif k % 3 == 1:
            assert outcome == {"result": cancellable._reference(f"-{k}")["result"]}
        else:
            assert isinstance(outcome, NodeExecutionError)
            assert outcome.node == "inverse"
    assert observed == ["waiting cancelled"] * (runs // 3)
    assert asyncio.all_tasks() == before


def slow_cleanup_inputs(observed: list[str]) -> dict[str, Any]:
    return {
        "entered": asyncio.Event(),
        "cleanup_started": asyncio.Event(),
        "cleanup_release": asyncio.Event(),
        "observed": observed,
    }


async def _settle(before: set[asyncio.Task[Any]], inputs: dict[str, Any]) -> None:
    """Let a run that was left behind finish, so that a failing test does not leak tasks."""
    inputs["cleanup_release"].set()
    left = asyncio.all_tasks() - before - {asyncio.current_task()}
    if left:
        await asyncio.wait(left, timeout=2)


@pytest.mark.anyio
async def test_a_second_cancel_does_not_cut_the_runs_cleanup_short() -> None:
    dr = build(slow_cleanup)
    observed: list[str] = []
    inputs = slow_cleanup_inputs(observed)
    before = asyncio.all_tasks()
    run = asyncio.create_task(dr.aexecute(["reluctant"], inputs=inputs))
    run.add_done_callback(lambda _: observed.append("run finished"))
    try:
        with anyio.fail_after(5):
            await inputs["entered"].wait()
            run.cancel()
            await inputs["cleanup_started"].wait()
            run.cancel()  # the caller is cancelled again while the run is cleaning up
            for _ in range(20):  # give a drain that gives up on a second cancel time to do so
                await asyncio.sleep(0)
            inputs["cleanup_release"].set()
            with pytest.raises(asyncio.CancelledError):
                await run
        # aexecute returned only once its node had finished cleaning up
        assert observed == ["cleanup started", "cleanup finished", "run finished"]
        assert asyncio.all_tasks() == before
    finally:
        await _settle(before, inputs)


@pytest.mark.anyio
async def test_an_anyio_cancel_scope_does_not_cut_the_runs_cleanup_short() -> None:
    # anyio (and so Starlette / FastAPI) re-delivers cancellation to a cancelled scope's task
    # on every await until the scope exits: the run's cleanup must still be waited for.
    dr = build(slow_cleanup)
    observed: list[str] = []
    inputs = slow_cleanup_inputs(observed)
    before = asyncio.all_tasks()

    async def release_later() -> None:
        await inputs["cleanup_started"].wait()
        for _ in range(20):
            await asyncio.sleep(0)
        inputs["cleanup_release"].set()

    releaser = asyncio.create_task(release_later())
    try:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:

                async def cancel_when_entered() -> None:
                    await inputs["entered"].wait()
                    tg.cancel_scope.cancel()

                tg.start_soon(cancel_when_entered)
                try:
                    await dr.aexecute(["reluctant"], inputs=inputs)
                finally:
                    observed.append("run finished")
            await releaser
        assert observed == ["cleanup started", "cleanup finished", "run finished"]
        assert asyncio.all_tasks() == before
    finally:
        await _settle(before, inputs)
