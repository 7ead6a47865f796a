"""Fail-fast and cancellation of streaming runs.

A failing node raises NodeExecutionError naming the node and the item's index path, with the
user's exception as ``__cause__``; the generator is closed, in-flight items are cancelled, the
collectors of the failed expansion never run, and no task is left behind. Cancelling the task
that awaits a run stops it promptly and the driver keeps serving runs.
"""

from __future__ import annotations

import asyncio
import builtins
import multiprocessing
import os
import types
from collections.abc import Iterator

import anyio
import pytest

from asyncdag import driver
from asyncdag.errors import NodeExecutionError, NodeTimeoutError
from asyncdag.execution import executors
from asyncdag.execution._streams import PUMP_POOL
from tests.dags_stream import (
    err_async_gen,
    err_block,
    err_block_sync,
    err_generators,
    err_nested,
    err_simple,
    err_sync_gen,
    slow_proc,
    stream_partial,
)
from tests.dags_stream.probes import Calls, Failure

pytestmark = pytest.mark.anyio

#: BaseExceptionGroup where the interpreter has it (3.11+); never matches before that
_GROUP: type | tuple[()] = getattr(builtins, "BaseExceptionGroup", ())

GENERATORS = [err_async_gen, err_sync_gen]


def _id(module: types.ModuleType) -> str:
    return module.__name__.rsplit(".", 1)[-1]


def _expander_threads() -> int:
    """Pump jobs running now (pump threads are shared and reused; what matters is that none
    is still advancing or closing a generator of the run)."""
    return PUMP_POOL.busy


async def _join(_: int) -> None:
    """Wait until no pump job still runs (the generator is closed on its own thread, after
    ``probe.closed`` was set: only a return is left)."""
    with anyio.fail_after(2):
        while PUMP_POOL.busy:
            await anyio.sleep(0)


def _check_error(err: BaseException, node: str, index: tuple[int, ...], cause: type) -> None:
    # one NodeExecutionError that is also the user's exception class (so `except Boom:` works),
    # never a bare ExceptionGroup, never re-wrapped
    assert isinstance(err, NodeExecutionError) and isinstance(err, cause)
    assert type(err).__mro__[1] in (NodeExecutionError, NodeTimeoutError)
    assert not isinstance(err, _GROUP)
    assert err.node == node
    assert err.index == index
    assert isinstance(err.__cause__, cause)
    assert node in str(err)


# -- fail-fast -----------------------------------------------------------------------------------


@pytest.mark.parametrize("generator", GENERATORS, ids=_id)
async def test_a_failing_item_fails_the_run_and_cancels_the_rest(
    generator: types.ModuleType,
) -> None:
    # Item 3 raises once 6 items have started; the others wait until cancelled.
    probe = Failure(fail_at=3, wait_started=6, hold=True)
    threads_before = _expander_threads()
    tasks_before = asyncio.all_tasks()
    async with driver.Builder().with_modules(generator, err_block).build() as dr:
        with anyio.fail_after(5), pytest.raises(NodeExecutionError) as info:
            await dr.aexecute(["total"], inputs={"limit": -1, "probe": probe})
        _check_error(info.value, "work", (3,), ValueError)
        assert str(info.value.__cause__) == "boom at 3"
        assert probe.started >= 6
        assert probe.cancelled == probe.started - 1  # every other item was in flight
        assert probe.calls["total"] == 0  # the collector of the failed expansion never ran
        with anyio.fail_after(2):
            await probe.closed.wait()  # the generator's finally ran (on its thread, if sync)
        assert asyncio.all_tasks() == tasks_before
        await _join(_expander_threads() - threads_before)

        # The driver serves the next run correctly.
        fresh = Failure()
        with anyio.fail_after(2):
            result = await dr.aexecute(["total"], inputs={"limit": 10, "probe": fresh})
        assert result == {"total": 45}


@pytest.mark.parametrize("generator", GENERATORS, ids=_id)
async def test_an_async_generator_is_closed_before_the_run_returns(
    generator: types.ModuleType,
) -> None:
    probe = Failure(fail_at=0, hold=False)
    async with driver.Builder().with_modules(generator, err_block).build() as dr:
        with anyio.fail_after(5), pytest.raises(NodeExecutionError):
            await dr.aexecute(["total"], inputs={"limit": -1, "probe": probe})
        if generator is err_async_gen:
            assert probe.closed.is_set()  # aclose() ran inside the run
        else:
            with anyio.fail_after(2):
                await probe.closed.wait()  # closed on its own thread, soon after


@pytest.mark.parametrize("generator", GENERATORS, ids=_id)
async def test_a_failing_sync_item_on_a_thread(generator: types.ModuleType) -> None:
    probe = Failure(fail_at=3, wait_started=5)
    tasks_before = asyncio.all_tasks()
    async with driver.Builder().with_modules(generator, err_block_sync).build() as dr:
        with anyio.fail_after(5), pytest.raises(NodeExecutionError) as info:
            await dr.aexecute(["total"], inputs={"limit": -1, "probe": probe})
    _check_error(info.value, "work", (3,), ValueError)
    assert probe.calls["total"] == 0
    with anyio.fail_after(2):
        await probe.closed.wait()
    assert asyncio.all_tasks() == tasks_before


@pytest.mark.parametrize("node", ["leaf", "leaf_async"])
async def test_a_nested_failure_names_the_index_path(node: str) -> None:
    inputs = {"n": 5, "m": 10, "gen_fails_in": -1, "fail_at": (3, 7)}
    output = "grand_total" if node == "leaf" else "grand_total_async"
    async with driver.Builder().with_modules(err_nested).build() as dr:
        with anyio.fail_after(5), pytest.raises(NodeExecutionError) as info:
            await dr.aexecute([output], inputs=inputs)
    _check_error(info.value, node, (3, 7), ValueError)


async def test_a_failing_generator_is_named_with_its_own_index() -> None:
    inputs = {"n": 5, "m": 4, "gen_fails_in": 2, "fail_at": (-1, -1)}
    async with driver.Builder().with_modules(err_nested).build() as dr:
        with anyio.fail_after(5), pytest.raises(NodeExecutionError) as info:
            await dr.aexecute(["grand_total"], inputs=inputs)
    _check_error(info.value, "inner", (2,), LookupError)


@pytest.mark.parametrize(
    ("expander", "cause"),
    [
        ("sync_gen", RuntimeError),
        ("async_gen", RuntimeError),
        ("not_iterable", TypeError),
        ("async_raises", RuntimeError),
    ],
)
@pytest.mark.parametrize("run", ["aexecute", "execute"])
async def test_a_failing_expander_is_named(expander: str, cause: type, run: str) -> None:
    calls = Calls()
    outputs, inputs = [f"total_{expander}"], {"calls": calls}
    with driver.Builder().with_modules(err_generators).build() as dr:
        with pytest.raises(NodeExecutionError) as info:
            if run == "aexecute":
                with anyio.fail_after(5):
                    await dr.aexecute(outputs, inputs=inputs)
            else:
                await anyio.to_thread.run_sync(lambda: dr.execute(outputs, inputs=inputs))
    _check_error(info.value, expander, (), cause)
    assert calls["total"] == 0


async def test_a_failing_collector_has_an_empty_index() -> None:
    async with driver.Builder().with_modules(err_simple).build() as dr:
        with anyio.fail_after(5), pytest.raises(NodeExecutionError) as info:
            await dr.aexecute(["fails_itself"], inputs={"n": 4, "fail_from": 99})
    _check_error(info.value, "fails_itself", (), err_simple.Boom)


@pytest.mark.parametrize("collector", ["fails_at_five", "fails_at_five_sync"])
async def test_a_streaming_collector_failing_mid_stream(collector: str) -> None:
    tasks_before = asyncio.all_tasks()
    builder = driver.Builder().with_modules(stream_partial).with_window(4)
    async with builder.build() as dr:
        with anyio.fail_after(5), pytest.raises(NodeExecutionError) as info:
            await dr.aexecute([collector, "everything"], inputs={"n": 100})
    _check_error(info.value, collector, (), KeyError)
    assert asyncio.all_tasks() == tasks_before


EXECUTORS = {
    "inline": executors.SynchronousLocalTaskExecutor,
    "asyncio": executors.AsyncioExecutor,
    "threads": lambda: executors.MultiThreadingExecutor(max_tasks=4),
}


@pytest.mark.parametrize("executor", sorted(EXECUTORS))
async def test_many_failing_items_give_one_error(executor: str) -> None:
    ex = EXECUTORS[executor]()
    builder = driver.Builder().with_modules(err_simple).with_local_executor(ex)
    async with builder.with_remote_executor(ex).build() as dr:
        with anyio.fail_after(5), pytest.raises(NodeExecutionError) as info:
            await dr.aexecute(["total"], inputs={"n": 50, "fail_from": 10})
    _check_error(info.value, "checked", info.value.index, err_simple.Boom)
    assert len(info.value.index) == 1 and info.value.index[0] >= 10
    if executor == "inline":
        assert info.value.index == (10,)  # one item at a time: the first failure is item 10


def test_execute_raises_the_same_error() -> None:
    with driver.Builder().with_modules(err_nested).build() as dr:
        with pytest.raises(NodeExecutionError) as info:
            dr.execute(
                ["grand_total"], inputs={"n": 5, "m": 10, "gen_fails_in": -1, "fail_at": (3, 7)}
            )
    _check_error(info.value, "leaf", (3, 7), ValueError)


@pytest.fixture
def process_executor() -> Iterator[executors.MultiProcessingExecutor]:
    ex = executors.MultiProcessingExecutor(max_tasks=1)
    yield ex
    ex.close()


async def test_a_failure_in_a_worker_process(
    process_executor: executors.MultiProcessingExecutor,
) -> None:
    dr = driver.Builder().with_modules(err_simple).with_remote_executor(process_executor).build()
    try:
        with anyio.fail_after(30), pytest.raises(NodeExecutionError) as info:
            await dr.aexecute(["total"], inputs={"n": 6, "fail_from": 4})
    finally:
        dr.local.close()
    _check_error(info.value, "checked", info.value.index, err_simple.Boom)
    assert info.value.index in {(4,), (5,)}


# -- cancellation --------------------------------------------------------------------------------


@pytest.mark.parametrize("generator", GENERATORS, ids=_id)
async def test_cancelling_the_awaiting_task_stops_the_run(generator: types.ModuleType) -> None:
    probe = Failure(wait_started=6, hold=True)  # no item fails; all hold until cancelled
    threads_before = _expander_threads()
    tasks_before = asyncio.all_tasks()
    async with driver.Builder().with_modules(generator, err_block).build() as dr:
        run = asyncio.create_task(dr.aexecute(["total"], inputs={"limit": -1, "probe": probe}))
        with anyio.fail_after(5):
            await probe.enough.wait()
        run.cancel()
        with anyio.fail_after(2), pytest.raises(asyncio.CancelledError):
            await run
        assert probe.cancelled == probe.started
        assert probe.calls["total"] == 0
        with anyio.fail_after(2):
            await probe.closed.wait()
        assert asyncio.all_tasks() == tasks_before
        await _join(_expander_threads() - threads_before)

        with anyio.fail_after(2):
            result = await dr.aexecute(["total"], inputs={"limit": 20, "probe": Failure()})
        assert result == {"total": sum(range(20))}


async def test_cancelling_with_a_streaming_collector_running() -> None:
    probe = Failure(wait_started=4, hold=True)
    tasks_before = asyncio.all_tasks()
    async with driver.Builder().with_modules(err_async_gen, err_block).build() as dr:
        run = asyncio.create_task(dr.aexecute(["streamed"], inputs={"limit": -1, "probe": probe}))
        with anyio.fail_after(5):
            await probe.enough.wait()
        assert probe.calls["streamed"] == 1  # it started with the expansion
        run.cancel()
        with anyio.fail_after(2), pytest.raises(asyncio.CancelledError):
            await run
    assert probe.closed.is_set()
    assert asyncio.all_tasks() == tasks_before


async def test_cancelling_abandons_thread_work_promptly() -> None:
    # Sync items block their worker threads until the test releases them: the cancelled run
    # must return at once, not wait for the threads.
    probe = Failure(wait_started=3, hold=True)
    tasks_before = asyncio.all_tasks()
    async with driver.Builder().with_modules(err_sync_gen, err_block_sync).build() as dr:
        run = asyncio.create_task(dr.aexecute(["total"], inputs={"limit": 6, "probe": probe}))
        with anyio.fail_after(5):
            await probe.enough.wait()
        run.cancel()
        with anyio.fail_after(2), pytest.raises(asyncio.CancelledError):
            await run
        assert asyncio.all_tasks() == tasks_before
        probe.release.set()  # the abandoned threads finish; their results are dropped
        with anyio.fail_after(5):
            result = await dr.aexecute(["total"], inputs={"limit": 5, "probe": Failure()})
    assert result == {"total": 10}
    assert probe.calls["total"] == 0


async def test_cancelling_while_a_sync_generator_blocks_in_next() -> None:
    # The generator's thread is stuck inside next(): cancellation cannot interrupt it, but the
    # run must still end at once, and the generator be closed when next() returns.
    gate_probe = Failure(wait_started=1, hold=True)
    tasks_before = asyncio.all_tasks()
    module = types.ModuleType("tests.dags_stream.dynamic_blocking_gen")
    exec(
        "from asyncdag.htypes import Parallelizable\n"
        "def items(limit: int, probe: object) -> Parallelizable[int]:\n"
        "    try:\n"
        "        yield 0\n"
        "        probe.release.wait_sync()\n"
        "        yield 1\n"
        "    finally:\n"
        "        probe.closed.set()\n",
        module.__dict__,
    )
    async with driver.Builder().with_modules(module, err_block).build() as dr:
        run = asyncio.create_task(dr.aexecute(["total"], inputs={"limit": 0, "probe": gate_probe}))
        with anyio.fail_after(5):
            await gate_probe.enough.wait()  # item 0 is in flight, the generator is blocked
        run.cancel()
        with anyio.fail_after(2), pytest.raises(asyncio.CancelledError):
            await run
        assert asyncio.all_tasks() == tasks_before
        gate_probe.release.set()
        with anyio.fail_after(2):
            await gate_probe.closed.wait()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_cancelling_a_run_stops_its_process_work(
    process_executor: executors.MultiProcessingExecutor,
) -> None:
    # A block sleeps for a minute in a worker process: cancelling the run must return at once,
    # stop that worker, and leave the executor able to serve the next run.
    with multiprocessing.get_context("spawn").Manager() as manager:
        started, pids = manager.Event(), manager.dict()
        dr = driver.Builder().with_modules(slow_proc).with_remote_executor(process_executor)
        built = dr.build()
        inputs = {"n": 2, "seconds": 60.0, "started": started, "pids": pids}
        run = asyncio.create_task(built.aexecute(["total"], inputs=inputs))
        with anyio.fail_after(20):
            await anyio.to_thread.run_sync(started.wait, 20)
        run.cancel()
        with anyio.fail_after(2), pytest.raises(asyncio.CancelledError):
            await run
        pid = next(iter(pids.values()))
        with anyio.fail_after(5):
            while _alive(pid):  # process exit has no event to wait on: poll, bounded
                await anyio.sleep(0.01)
        inputs = {"n": 3, "seconds": 0.0, "started": started, "pids": pids}
        with anyio.fail_after(20):
            assert await built.aexecute(["total"], inputs=inputs) == {"total": 3}
        built.local.close()
