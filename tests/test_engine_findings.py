"""End to end, one test (or a few) per defect the engine review and the probes found.

Each test names the finding it covers; the pieces involved are tested on their own in
``test_engine_pieces.py`` and ``test_sync.py``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import types
from pathlib import Path
from typing import Any

import anyio
import pytest

from asyncdag import driver, errors, lifecycle
from asyncdag.execution import executors
from asyncdag.execution._streams import PUMP_POOL
from asyncdag.htypes import ItemFailure
from tests.dags_engine import (
    cooperative,
    counted_stream,
    failing_generator,
    held_generator,
    hooked,
    reentrant,
    self_cancel,
    spread,
    sync_self_cancel,
    sync_stream,
    wire_failures,
)
from tests.hook_recorders import NodeEvents

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[1]


async def _until(predicate: Any, what: str, seconds: float = 10) -> None:
    """Wait (bounded) for a condition that the code under test makes true on its own."""
    with anyio.fail_after(seconds):
        while not predicate():
            await anyio.sleep(0.001)
    assert predicate(), what


# -- a sync streaming collector's run that fails or is cancelled ---------------------------------


async def test_a_sync_streaming_collector_run_failing_or_cancelled_100_times_leaves_nothing() -> (
    None
):
    loop = asyncio.get_running_loop()
    tasks_before = asyncio.all_tasks()
    threads_before = threading.active_count()
    executor = executors.AsyncioExecutor()
    dr = driver.Builder().with_modules(sync_stream).with_local_executor(executor).build()
    for attempt in range(100):
        if attempt % 2:
            with anyio.fail_after(10), pytest.raises(errors.NodeExecutionError) as info:
                await dr.aexecute(["total"], inputs={"n": 8, "plan": {"fail_at": 3}})
            assert info.value.node == "total" and isinstance(info.value, ValueError)
        else:
            holding = asyncio.Event()
            run = asyncio.ensure_future(
                dr.aexecute(["total"], inputs={"n": 8, "plan": {"hold_at": 5, "holding": holding}})
            )
            with anyio.fail_after(10):
                await holding.wait()
            run.cancel()
            with anyio.fail_after(10), pytest.raises(asyncio.CancelledError):
                await run
        # nothing of the run is left: no task, and no thread still blocked on the run
        assert asyncio.all_tasks() == tasks_before
        await _until(lambda: executor.pool().busy == 0, "the collector's thread is free")
    assert threading.active_count() <= threads_before + executor.pool().size + 2
    # the loop's default executor was never used, and is free
    with anyio.fail_after(10):
        assert await loop.run_in_executor(None, lambda: "free") == "free"
    await dr.aclose()


# -- a node that raises CancelledError itself ----------------------------------------------------


@pytest.mark.parametrize(
    "output, node, index",
    [
        ("victims", "victim", (2,)),
        ("top_victim", "top_victim", ()),
        ("gen_items", "gen_victim", ()),
    ],
)
async def test_a_node_raising_cancelled_error_itself_fails_the_run_naming_it(
    output: str, node: str, index: tuple[int, ...]
) -> None:
    dr = driver.Builder().with_modules(self_cancel).build()
    with anyio.fail_after(10), pytest.raises(errors.NodeExecutionError) as info:
        await dr.aexecute([output], inputs={"n": 5})
    assert (info.value.node, info.value.index) == (node, index)
    assert isinstance(info.value.__cause__, asyncio.CancelledError)
    assert not isinstance(info.value, asyncio.CancelledError)  # never read as a cancellation


async def test_the_runs_own_cancellation_is_never_wrapped() -> None:
    holding = asyncio.Event()
    dr = driver.Builder().with_modules(sync_stream).build()
    run = asyncio.ensure_future(
        dr.aexecute(["total"], inputs={"n": 8, "plan": {"hold_at": 1, "holding": holding}})
    )
    with anyio.fail_after(10):
        await holding.wait()
    run.cancel()
    with anyio.fail_after(10):
        done, _ = await asyncio.wait({run})
    assert run.cancelled()  # the CancelledError itself, not a NodeExecutionError


# -- a node that runs the same driver again ------------------------------------------------------


async def test_a_node_running_the_same_driver_again_never_deadlocks_on_max_tasks() -> None:
    # 300 items with the default 256 slots: every slot is held by an outer item whose node
    # waits for an inner run of the same driver (the inner run takes no slot of its own)
    dr = driver.Builder().with_modules(reentrant).build()
    with anyio.fail_after(30):
        result = await dr.aexecute(["grand_total"], inputs={"n": 300, "dr": dr})
    assert result == {"grand_total": sum(3 * b + 3 for b in range(300))}
    assert dr.remote.slots is not None and dr.remote.slots.statistics().borrowed == 0


def test_a_sync_node_running_the_same_driver_again_on_its_thread_never_deadlocks() -> None:
    # 2 threads, 6 items: each outer sync node blocks its pool thread in an inner execute();
    # the inner run must not queue behind those very threads
    dr = (
        driver.Builder()
        .with_modules(reentrant)
        .with_remote_executor(executors.MultiThreadingExecutor(max_tasks=2))
        .build()
    )
    try:
        result = dr.execute(["grand_total_sync"], inputs={"n": 6, "dr": dr})
    finally:
        dr.close()
    assert result == {"grand_total_sync": sum(3 * b + 3 for b in range(6))}


# -- sync nodes and cancellation -----------------------------------------------------------------


async def test_a_cancelled_run_starts_no_new_sync_call_and_stops_one_that_checks() -> None:
    probe = cooperative.make_probe()
    ex = executors.MultiThreadingExecutor(max_tasks=1)
    dr = driver.Builder().with_modules(cooperative).with_remote_executor(ex).build()
    run = asyncio.ensure_future(dr.aexecute(["crunched"], inputs={"n": 10, "probe": probe}))
    with anyio.fail_after(10):
        while not probe["running"].is_set():
            await anyio.sleep(0.001)
    run.cancel()
    with anyio.fail_after(10), pytest.raises(asyncio.CancelledError):
        await run
    # item 0 saw check_cancelled() raise and gave its thread back; items 1..9 never started
    await _until(lambda: ex.pool().busy == 0, "the cooperative node returned")
    assert probe["started"] == [0]
    dr.close()


# -- Ctrl-C during execute() ---------------------------------------------------------------------

_CTRL_C = """
import json, os, sys, time, asyncio
from pathlib import Path
from asyncdag import driver
from asyncdag.execution import executors
import tests.dags_engine.ctrl_c as flow

mode, marks = sys.argv[1], Path(sys.argv[2])
remote = {
    "asyncio": None,
    "threads": lambda: executors.MultiThreadingExecutor(max_tasks=2),
    "processes": lambda: executors.MultiProcessingExecutor(max_tasks=2),
}[mode]
b = driver.Builder().with_modules(flow)
if remote is not None:
    b = b.with_remote_executor(remote())
dr = b.build()
interrupted = False
try:
    dr.execute(["total"], inputs={"n": 6, "marks": str(marks), "slow": True})
except KeyboardInterrupt:
    interrupted = True
started_after_interrupt = len(list(marks.glob("start-*")))
second = dr.execute(["total"], inputs={"n": 3, "marks": str(marks / "second"), "slow": False})
time.sleep(0.3)  # would let a stale item of the first run start, if one were left
print(json.dumps({
    "interrupted": interrupted,
    "second": second["total"],
    "stale": len(list(marks.glob("start-*"))) - started_after_interrupt,
}))
dr.close()
"""


@pytest.mark.parametrize("mode", ["asyncio", "threads", "processes"])
def test_ctrl_c_in_execute_cancels_the_run_and_the_next_execute_is_untouched(
    mode: str, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    (marks / "second").mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", _CTRL_C, mode, str(marks)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len(list(marks.glob("start-*"))) < 2:  # items are running: now press Ctrl-C
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report == {"interrupted": True, "second": 0 + 1 + 2, "stale": 0}
    assert "never retrieved" not in err and "Traceback" not in err


# -- processes: what cannot make the trip back ---------------------------------------------------


@pytest.fixture(scope="module")
def processes() -> Any:
    ex = executors.MultiProcessingExecutor(max_tasks=2)
    yield ex
    ex.close()


def _process_driver(processes: Any) -> driver.Driver:
    return driver.Builder().with_modules(wire_failures).with_remote_executor(processes).build()


async def test_an_exception_needing_constructor_arguments_arrives_as_a_remote_error(
    processes: Any,
) -> None:
    dr = _process_driver(processes)
    with anyio.fail_after(30), pytest.raises(errors.RemoteError) as info:
        await dr.aexecute(["outcomes"], inputs={"n": 4, "case": "needs_args"})
    err = info.value
    assert (err.node, err.index, err.label) == ("outcome", (2,), "2")
    assert err.type_name.endswith("FetchError")
    assert err.remote_message == "http://site/2: HTTP 404"
    assert "raise FetchError" in err.remote_traceback
    assert "FetchError" in str(err) and "'outcome'" in str(err)


async def test_a_rebuildable_exception_arrives_as_itself(processes: Any) -> None:
    dr = _process_driver(processes)
    with anyio.fail_after(30), pytest.raises(wire_failures.Rebuildable) as info:
        await dr.aexecute(["outcomes"], inputs={"n": 4, "case": "rebuildable"})
    assert isinstance(info.value, errors.NodeExecutionError)
    assert (info.value.node, info.value.index) == ("outcome", (2,))
    assert type(info.value.__cause__) is wire_failures.Rebuildable


@pytest.mark.parametrize("case, words", [("unpicklable", "pickled"), ("unloadable", "unpickled")])
async def test_a_value_that_cannot_travel_back_names_its_node_and_item(
    processes: Any, case: str, words: str
) -> None:
    dr = _process_driver(processes)
    with anyio.fail_after(30), pytest.raises(errors.SerializationError) as info:
        await dr.aexecute(["outcomes"], inputs={"n": 4, "case": case})
    assert info.value.node == "outcome" and words in str(info.value)
    assert not isinstance(info.value, errors.WorkerDiedError)


async def test_system_exit_in_a_node_is_the_nodes_failure_not_a_dead_worker(
    processes: Any,
) -> None:
    dr = _process_driver(processes)
    with anyio.fail_after(30), pytest.raises(errors.NodeExecutionError) as info:
        await dr.aexecute(["outcomes"], inputs={"n": 4, "case": "exit"})
    assert (info.value.node, info.value.index) == ("outcome", (2,))
    assert isinstance(info.value.__cause__, SystemExit)
    assert not isinstance(info.value, SystemExit)
    # the worker is alive and serves the next run
    with anyio.fail_after(30):
        assert await dr.aexecute(["outcomes"], inputs={"n": 4, "case": "fine"}) == {"outcomes": 4}


# -- processes: workers do not outlive their parent ----------------------------------------------

_ORPHAN = """
import sys, time
from asyncdag import driver
from asyncdag.execution import executors
import tests.dags_engine.ctrl_c as flow
ex = executors.MultiProcessingExecutor(max_tasks=2)
dr = driver.Builder().with_modules(flow).with_remote_executor(ex).build()
import threading
def show_pids():
    while len(ex.pool().worker_pids()) < 2:
        time.sleep(0.01)
    print(" ".join(map(str, ex.pool().worker_pids())), flush=True)
threading.Thread(target=show_pids, daemon=True).start()
dr.execute(["total"], inputs={"n": 4, "marks": sys.argv[1], "slow": True})
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not reaped by its parent yet) is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def test_workers_exit_soon_after_their_parent_is_killed_even_mid_task(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN, str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert len(pids) == 2
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("start-*"))) < 2:  # both workers are inside a long task
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.kill()  # SIGKILL: no cleanup of any kind in the parent
    proc.wait(10)
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids):
        assert time.monotonic() < deadline, "a worker outlived its killed parent"
        time.sleep(0.02)


def test_a_dropped_drivers_worker_processes_are_reclaimed_when_it_is_collected() -> None:
    ex = executors.MultiProcessingExecutor(max_tasks=2)
    dr = driver.Builder().with_modules(wire_failures).with_remote_executor(ex).build()
    assert dr.execute(["outcomes"], inputs={"n": 4, "case": "fine"}) == {"outcomes": 4}
    pids = ex.pool().worker_pids()
    assert pids
    del dr, ex
    gc.collect()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids):
        assert time.monotonic() < deadline, "the workers of a dropped driver are still there"
        time.sleep(0.02)


# -- processes: batches never starve workers -----------------------------------------------------


def test_after_cheap_items_slow_items_still_spread_over_every_worker() -> None:
    # A barrier of 2: an item passes only while an item runs at the same time in the other
    # worker. If the earlier run's measurement sent the 16 items to one worker in one batch,
    # the barrier would time out and the item fail.
    ex = executors.MultiProcessingExecutor(max_tasks=2)
    dr = driver.Builder().with_modules(spread).with_remote_executor(ex).build()
    try:
        cheap = dr.execute(["pids"], inputs={"n": 2000, "barrier": None})
        assert len(cheap["pids"]) == 2000
        with multiprocessing.get_context("spawn").Manager() as manager:
            barrier = manager.Barrier(2, timeout=20)
            slow = dr.execute(["pids"], inputs={"n": 16, "barrier": barrier})
        assert len(set(slow["pids"])) == 2  # both workers ran items
    finally:
        dr.close()


# -- astream is bounded by the window ------------------------------------------------------------


async def test_astream_with_a_stalled_reader_does_not_advance_the_run_past_the_window() -> None:
    window = 8
    produced: list[int] = []
    dr = driver.Builder().with_modules(counted_stream).with_window(window).build()
    stream = dr.astream(["doubled"], inputs={"n": 1000, "produced": produced})
    first = await anext(stream)  # then the reader stalls
    assert first.kind == "item"
    await anyio.wait_all_tasks_blocked()
    # the run waits for the reader: at most a window of items in flight or unread
    assert len(produced) <= window + 1
    with anyio.fail_after(30):
        rest = [event async for event in stream]
    assert len(produced) == 1000
    assert sum(1 for e in rest if e.kind == "item") == 999
    assert rest[-1].kind == "result" and rest[-1].value == {}


# -- hooks fire for every node on every executor -------------------------------------------------


@pytest.mark.parametrize("executor", ["default", "threads", "processes", "inline"])
@pytest.mark.parametrize("call", ["aexecute", "execute"])
def test_node_hooks_fire_for_every_node_on_every_executor(executor: str, call: str) -> None:
    seen = NodeEvents()
    remote = {
        "default": None,
        "threads": lambda: executors.MultiThreadingExecutor(max_tasks=2),
        "processes": lambda: executors.MultiProcessingExecutor(max_tasks=2),
        "inline": executors.SynchronousLocalTaskExecutor,
    }[executor]
    b = driver.Builder().with_modules(hooked).with_adapters(seen)
    if remote is not None:
        b = b.with_remote_executor(remote())
    dr = b.build()
    try:
        inputs = {"n": 3}
        if call == "execute":
            dr.execute(["sync_total", "async_total"], inputs=inputs)
        else:
            asyncio.run(dr.aexecute(["sync_total", "async_total"], inputs=inputs))
    finally:
        dr.close()
    per_item = {(name, (i,)) for i in range(3) for name in ("parse", "measure", "fetch", "digest")}
    outside = {("item", ()), ("sync_total", ()), ("async_total", ())}
    assert seen.after == per_item | outside
    assert seen.before == seen.after


async def test_a_hooks_exception_is_reported_as_the_hooks() -> None:
    class Broken(lifecycle.LifecycleHooks):
        def run_after_node_execution(self, *, node_name, **kw):  # type: ignore[no-untyped-def]
            if node_name == "parse":
                raise RuntimeError("the hook is broken")

    dr = driver.Builder().with_modules(hooked).with_adapters(Broken()).build()
    with anyio.fail_after(10), pytest.raises(errors.HookError) as info:
        await dr.aexecute(["sync_total"], inputs={"n": 3})
    assert (info.value.adapter, info.value.hook) == ("Broken", "run_after_node_execution")
    assert not isinstance(info.value, errors.NodeExecutionError)
    assert isinstance(info.value.__cause__, RuntimeError)


# -- threads: private loops and pumps ------------------------------------------------------------


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_each_threads_private_loop_is_closed_when_the_thread_ends() -> None:
    dr = driver.Builder().with_modules(reentrant).build()
    dr.execute(["small_total"], inputs={"m": 2, "base": 0})  # this thread's own loop
    gc.collect()
    before = _open_fds()

    def one() -> None:
        assert dr.execute(["small_total"], inputs={"m": 2, "base": 1}) == {"small_total": 3}

    for _ in range(20):
        threads = [threading.Thread(target=one) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    gc.collect()
    assert _open_fds() <= before + 4  # 200 threads came and went; their loops did too


async def test_concurrent_runs_with_sync_generators_share_a_bounded_set_of_threads() -> None:
    release = asyncio.Event()
    dr = driver.Builder().with_modules(held_generator).build()
    base = threading.active_count()
    runs = [
        asyncio.ensure_future(dr.aexecute(["total"], inputs={"n": 5, "release": release}))
        for _ in range(300)
    ]
    await anyio.wait_all_tasks_blocked()
    assert threading.active_count() <= base + PUMP_POOL.size + 32 + 2
    release.set()
    with anyio.fail_after(60):
        results = await asyncio.gather(*runs)
    assert results == [{"total": 10}] * 300


# -- no noise for failures the caller receives ---------------------------------------------------


def test_a_failing_process_run_prints_nothing_on_stderr() -> None:
    script = textwrap.dedent(
        """
        import asyncio
        from asyncdag import driver, errors
        from asyncdag.execution import executors
        import tests.dags_engine.wire_failures as flow
        ex = executors.MultiProcessingExecutor(max_tasks=2)
        dr = driver.Builder().with_modules(flow).with_remote_executor(ex).build()
        for _ in range(3):
            try:
                asyncio.run(dr.aexecute(["outcomes"], inputs={"n": 64, "case": "rebuildable"}))
            except errors.NodeExecutionError:
                pass
        dr.close()
        print("done")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "done"
    assert done.stderr == ""


# -- processes: async blocks run concurrently inside each worker ----------------------------------


async def test_async_items_run_side_by_side_in_a_worker_and_come_back_one_by_one(
    tmp_path: Path,
) -> None:
    from tests.dags_engine import in_worker

    # one process, 4 at once: item 0 finishes only after items 1..3 have finished beside it
    ex = executors.MultiProcessingExecutor(processes=1, concurrency=4)
    order: list[tuple[int, ...]] = []

    class Order(lifecycle.LifecycleHooks):
        def run_after_task_execution(self, *, index, **kw):  # type: ignore[no-untyped-def]
            order.append(index)

    dr = driver.Builder().with_modules(in_worker).with_remote_executor(ex).with_adapters(Order())
    dr = dr.build()
    try:
        inputs = {"n": 4, "token": "side", "others": 3, "marks": str(tmp_path)}
        with anyio.fail_after(30):
            assert await dr.aexecute(["total"], inputs=inputs) == {"total": 6}
        assert order[-1] == (0,)  # the others came back while item 0 still ran
    finally:
        dr.close()


async def test_cancelling_a_run_cancels_each_item_in_the_worker_which_serves_on(
    tmp_path: Path,
) -> None:
    from tests.dags_engine import in_worker

    ex = executors.MultiProcessingExecutor(processes=2, concurrency=8)
    dr = driver.Builder().with_modules(in_worker).with_remote_executor(ex).build()
    try:
        run = asyncio.ensure_future(
            dr.aexecute(
                ["total"], inputs={"n": 12, "token": "held", "others": -1, "marks": str(tmp_path)}
            )
        )
        # items 1..11 hold in the workers until cancelled (item 0 finishes at once)
        await _until(lambda: len(list(tmp_path.glob("started-*"))) == 11, "items started", 30)
        pids = set(ex.pool().worker_pids())
        assert len(pids) == 2
        run.cancel()
        with anyio.fail_after(30), pytest.raises(asyncio.CancelledError):
            await run
        # every item that had started was cancelled in its worker; the workers live on
        await _until(lambda: len(list(tmp_path.glob("cancelled-*"))) >= 11, "items cancelled")
        assert set(ex.pool().worker_pids()) == pids
        with anyio.fail_after(30):
            result = await dr.aexecute(
                ["total"], inputs={"n": 5, "token": "after", "others": 0, "marks": str(tmp_path)}
            )
        assert result == {"total": 10}
        assert ex.slots is not None and ex.slots.statistics().borrowed == 0
    finally:
        dr.close()


async def test_max_tasks_bounds_the_items_in_flight_over_every_worker(tmp_path: Path) -> None:
    from tests.dags_engine import in_worker

    ex = executors.MultiProcessingExecutor(max_tasks=3, processes=2, concurrency=8)
    now, most = [0], [0]

    class InFlight(lifecycle.LifecycleHooks):
        def run_before_task_execution(self, **kw):  # type: ignore[no-untyped-def]
            now[0] += 1
            most[0] = max(most[0], now[0])

        def run_after_task_execution(self, **kw):  # type: ignore[no-untyped-def]
            now[0] -= 1

    dr = (
        driver.Builder()
        .with_modules(in_worker)
        .with_remote_executor(ex)
        .with_adapters(InFlight())
        .build()
    )
    try:
        inputs = {"n": 30, "token": "bound", "others": 0, "marks": str(tmp_path)}
        with anyio.fail_after(30):
            assert await dr.aexecute(["total"], inputs=inputs) == {"total": sum(range(30))}
        assert most[0] == 3
    finally:
        dr.close()


# -- a sync node that raises CancelledError itself -----------------------------------------------


def _executor_for(kind: str) -> Any:
    if kind == "processes":
        return executors.MultiProcessingExecutor(processes=2, concurrency=4)
    if kind == "inline":
        return executors.SynchronousLocalTaskExecutor()
    if kind == "threads":
        return executors.MultiThreadingExecutor(max_tasks=4)
    return None


@pytest.mark.parametrize("where", ["outside", "in_block"])
@pytest.mark.parametrize("kind", ["default", "inline", "threads"])
async def test_a_sync_node_raising_cancelled_error_itself_fails_the_run_naming_it(
    kind: str, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync_self_cancel, "WHERE", where)
    b = driver.Builder().with_modules(sync_self_cancel)
    ex = _executor_for(kind)
    if ex is not None:
        b = b.with_local_executor(ex).with_remote_executor(ex)
    async with b.build() as dr:
        with anyio.fail_after(10), pytest.raises(errors.NodeExecutionError) as info:
            await dr.aexecute(["total"], inputs={"n": 3})
        assert (info.value.node, info.value.index) == (
            ("total", ()) if where == "outside" else ("per_item", (1,))
        )
        assert type(info.value.__cause__) is asyncio.CancelledError
        assert isinstance(info.value, errors.AsyncDagError)
        monkeypatch.setattr(sync_self_cancel, "WHERE", "nowhere")
        with anyio.fail_after(10):  # the driver is fine afterwards
            assert await dr.aexecute(["total"], inputs={"n": 3}) == {"total": 3}


# -- on_error on an expander inside a block ------------------------------------------------------

NESTED_EXPANDER = """
from asyncdag.htypes import Collect, CollectStream, Parallelizable
from asyncdag.policies import on_error


def outer(n: int) -> Parallelizable[int]:
    return list(range(n))


@on_error(POLICY)
def inner(outer: int) -> Parallelizable[int]:
    yield outer
    if outer == 1:
        raise ValueError("inner cannot expand item 1")
    yield outer


def leaf(inner: int) -> int:
    return inner


def per_outer(leaf: Collect[int]) -> int:
    return sum(leaf)


async def streamed(leaf: CollectStream[int]) -> int:
    return sum([v async for v in leaf])


def both(per_outer: int, streamed: int) -> int:
    return per_outer + streamed


def total(both: Collect[object]) -> list:
    return list(both)
"""


def _nested_expander(policy: str) -> Any:
    module = types.ModuleType(f"nested_expander_{policy}")
    source = NESTED_EXPANDER.replace("POLICY", repr(policy))
    exec(compile(source, module.__name__, "exec"), module.__dict__)
    return module


@pytest.mark.parametrize("kind", ["default", "inline", "threads", "processes"])
@pytest.mark.parametrize("policy", ["skip", "deliver"])
async def test_on_error_on_an_expander_inside_a_block_ends_only_its_item(
    policy: str, kind: str
) -> None:
    b = driver.Builder().with_modules(_nested_expander(policy))
    ex = _executor_for(kind)
    if ex is not None:
        b = b.with_local_executor(ex).with_remote_executor(ex)
    async with b.build() as dr:
        with anyio.fail_after(10):
            got = (await dr.aexecute(["total"], inputs={"n": 3}))["total"]
    # items 0 and 2: (0+0) * 2 and (2+2) * 2 (a list and a streaming collector each)
    if policy == "skip":
        assert got == [0, 8]
    else:
        assert got[0] == 0 and got[2] == 8
        failure = got[1]
        assert isinstance(failure, ItemFailure) and failure.node == "inner"
        assert failure.index == (1,) and isinstance(failure.error, ValueError)


async def test_an_expander_at_the_top_with_on_error_still_fails_the_run() -> None:
    module = types.ModuleType("top_expander_skip")
    source = """
from asyncdag.htypes import Collect, Parallelizable
from asyncdag.policies import on_error


@on_error("skip")
def items(n: int) -> Parallelizable[int]:
    yield 1
    raise ValueError("no more")


def total(items: Collect[int]) -> int:
    return sum(items)
"""
    exec(compile(source, module.__name__, "exec"), module.__dict__)
    dr = driver.Builder().with_modules(module).build()
    with anyio.fail_after(10), pytest.raises(errors.NodeExecutionError) as info:
        await dr.aexecute(["total"], inputs={"n": 3})
    assert info.value.node == "items"  # outside any block there is no item to end


# -- a failed run closes its sync generator, on every executor -----------------------------------


class _RaisingTaskHook(lifecycle.LifecycleHooks):
    def run_before_task_execution(self, **kwargs: Any) -> None:
        raise RuntimeError("the task hook fails")


@pytest.mark.parametrize("failure", ["node", "hook"])
@pytest.mark.parametrize("kind", ["default", "inline", "threads"])
async def test_a_failed_run_closes_its_sync_generator(
    kind: str, failure: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    monkeypatch.setattr(failing_generator, "EVENTS", events)
    monkeypatch.setattr(failing_generator, "FAIL_AT", 0 if failure == "node" else -1)
    b = driver.Builder().with_modules(failing_generator)
    ex = _executor_for(kind)
    if ex is not None:
        b = b.with_local_executor(ex).with_remote_executor(ex)
    if failure == "hook":
        b = b.with_adapters(_RaisingTaskHook())
    error = errors.NodeExecutionError if failure == "node" else errors.HookError
    async with b.build() as dr:
        with anyio.fail_after(10), pytest.raises(error):
            await dr.aexecute(["total"], inputs={"n": 50})
        # closed by the time the run has ended, or by its pump thread soon after
        await _until(lambda: events == ["open", "close"], "the generator is closed")


ASYNC_SKIP = """
from asyncdag.htypes import Collect, Parallelizable
from asyncdag.policies import on_error


def items(n: int) -> Parallelizable[int]:
    yield from range(n)


@on_error(POLICY)
async def checked(items: int) -> int:
    if items == 2:
        raise ValueError("item 2 is bad")
    return items


def total(checked: Collect[object]) -> list:
    return list(checked)
"""


@pytest.mark.parametrize("policy", ["skip", "deliver"])
async def test_an_async_nodes_error_policy_holds_in_worker_processes(policy: str) -> None:
    # the block reads nothing from outside: its items arrive in the worker with no outer frame
    module = types.ModuleType(f"async_policy_{policy}")
    exec(
        compile(ASYNC_SKIP.replace("POLICY", repr(policy)), module.__name__, "exec"),
        module.__dict__,
    )
    ex = executors.MultiProcessingExecutor(processes=2, concurrency=4)
    async with driver.Builder().with_modules(module).with_remote_executor(ex).build() as dr:
        with anyio.fail_after(30):
            got = (await dr.aexecute(["total"], inputs={"n": 4}))["total"]
    if policy == "skip":
        assert got == [0, 1, 3]
    else:
        assert got[:2] == [0, 1] and got[3] == 3
        assert isinstance(got[2], ItemFailure) and got[2].index == (2,)
        assert isinstance(got[2].error, ValueError)


# -- a streaming collector ended by its error policy before reading its stream ------------------

SKIPPED_STREAM = """
from asyncdag.htypes import Collect, CollectStream, Parallelizable
from asyncdag.policies import on_error


def outer(n: int) -> Parallelizable[int]:
    yield from range(n)


def inner(outer: int) -> Parallelizable[int]:
    yield from range(3)


@on_error("skip")
def streamed(outer: int, inner: CollectStream[int]) -> int:
    if outer == 0:
        raise ValueError("fails before reading its stream")
    return sum(inner)


def total(streamed: Collect[int]) -> int:
    return sum(streamed)
"""


@pytest.mark.parametrize("is_async", [False, True])
@pytest.mark.parametrize("kind", ["default", "inline", "threads"])
async def test_a_streaming_collector_skipped_before_reading_gives_its_window_back(
    kind: str, is_async: bool
) -> None:
    source = SKIPPED_STREAM
    if is_async:
        source = source.replace("def streamed", "async def streamed")
        source = source.replace("sum(inner)", "sum([v async for v in inner])")
    module = types.ModuleType(f"skipped_stream_{kind}_{is_async}")
    exec(compile(source, module.__name__, "exec"), module.__dict__)
    b = driver.Builder().with_modules(module).with_window(1)  # smaller than the expansion
    ex = _executor_for(kind)
    if ex is not None:
        b = b.with_local_executor(ex).with_remote_executor(ex)
    async with b.build() as dr:
        with anyio.fail_after(10):  # a hang is how this fails
            # item 0 of outer is skipped; item 1 streams 0 + 1 + 2
            assert await dr.aexecute(["total"], inputs={"n": 2}) == {"total": 3}


READERS_AND_PRODUCERS = """
from asyncdag.htypes import Collect, CollectStream, Parallelizable


def outer(n: int) -> Parallelizable[int]:
    return list(range(n))


def inner(outer: int) -> Parallelizable[int]:
    return [outer, outer + 1]


def leaf(inner: int) -> int:
    return inner


def per(leaf: CollectStream[int]) -> int:
    return sum(leaf)


def total(per: Collect[int]) -> int:
    return sum(per)
"""


@pytest.mark.parametrize("max_tasks", [1, 4])
async def test_sync_streaming_collectors_never_take_every_thread_from_their_producers(
    max_tasks: int,
) -> None:
    # more outer items than threads: each ``per`` waits on a thread for ``inner``'s items,
    # and ``inner`` needs a thread of the same pool to produce them
    module = types.ModuleType(f"readers_and_producers_{max_tasks}")
    exec(compile(READERS_AND_PRODUCERS, module.__name__, "exec"), module.__dict__)
    ex = executors.MultiThreadingExecutor(max_tasks=max_tasks)
    b = driver.Builder().with_modules(module).with_local_executor(ex).with_remote_executor(ex)
    n = 3 * max_tasks + 1
    async with b.build() as dr:
        with anyio.fail_after(10):  # a hang is how this fails
            result = await dr.aexecute(["total"], inputs={"n": n})
    assert result == {"total": sum(2 * i + 1 for i in range(n))}


CALLS_SEEN = """
from asyncdag._calls import current_call
from asyncdag.htypes import Collect, Parallelizable


def _seen():
    call = current_call()
    return None if call is None else call.node


def items(n: int) -> Parallelizable[int]:
    return list(range(n))


def plain(items: int) -> object:
    return _seen()


async def plain_async(items: int) -> object:
    return _seen()


def seen(plain: object, plain_async: object) -> tuple:
    return (plain, plain_async)


def all_seen(seen: Collect[tuple]) -> list:
    return list(seen)
"""


class _WrapsTheExpander(lifecycle.LifecycleHooks):
    def wrap_node(self, *, fn: Any, is_expander: bool, **kwargs: Any) -> Any:
        if not is_expander:
            return None

        def wrapped(**kw: Any) -> Any:
            return fn(**kw)

        return wrapped


@pytest.mark.parametrize("kind", ["default", "inline", "threads", "processes"])
async def test_a_node_never_sees_another_nodes_call_info(kind: str) -> None:
    # the expander is wrapped, so it gets a CallInfo; the nodes of its items are not, and
    # must not read the expander's (which the items' tasks and worker batches inherited)
    module = types.ModuleType(f"calls_seen_{kind}")
    exec(compile(CALLS_SEEN, module.__name__, "exec"), module.__dict__)
    b = driver.Builder().with_modules(module).with_adapters(_WrapsTheExpander())
    ex = _executor_for(kind)
    if ex is not None:
        b = b.with_local_executor(ex).with_remote_executor(ex)
    async with b.build() as dr:
        with anyio.fail_after(30):
            result = await dr.aexecute(["all_seen"], inputs={"n": 3})
    for pair in result["all_seen"]:
        assert set(pair) <= {None, "plain", "plain_async"}, pair


NESTED_POLICIES = """
from asyncdag.policies import on_error
from asyncdag.htypes import Collect, Parallelizable


def outer(n: int) -> Parallelizable[int]:
    return list(range(n))


def inner(outer: int) -> Parallelizable[int]:
    return [10 * outer + k for k in range(3)]


@on_error("skip")
def skipped(inner: int) -> int:
    if inner % 10 == 1:
        raise ValueError(f"skip {inner}")
    return inner


@on_error("deliver")
def delivered(skipped: int) -> int:
    if skipped % 10 == 2:
        raise ValueError(f"deliver {skipped}")
    return skipped


def per(delivered: Collect[object]) -> int:
    return sum(v for v in delivered if isinstance(v, int))


def total(per: Collect[int]) -> int:
    return sum(per)
"""


class _Tasks(lifecycle.LifecycleHooks):
    def __init__(self) -> None:
        self.before: list[tuple[Any, ...]] = []
        self.after: list[tuple[Any, ...]] = []
        self.expansions: list[tuple[Any, ...]] = []

    def run_before_task_execution(self, *, expander: str, index: Any, **kw: Any) -> None:
        self.before.append((expander, tuple(index)))

    def run_after_task_execution(
        self, *, expander: str, index: Any, outcome: str, error: Any, **kw: Any
    ) -> None:
        self.after.append((expander, tuple(index), outcome, type(error).__name__))

    def run_after_expansion(self, *, expander: str, index: Any, items: int, **kw: Any) -> None:
        self.expansions.append((expander, tuple(index), items))


@pytest.mark.parametrize("kind", ["processes", "threads"])
async def test_task_hooks_of_items_nested_in_a_worker_report_their_outcome(kind: str) -> None:
    module = types.ModuleType(f"nested_policies_{kind}")
    exec(compile(NESTED_POLICIES, module.__name__, "exec"), module.__dict__)
    seen = {}
    for where in ("default", kind):
        tasks = _Tasks()
        b = driver.Builder().with_modules(module).with_adapters(tasks)
        ex = _executor_for(where)
        if ex is not None:
            b = b.with_local_executor(ex).with_remote_executor(ex)
        async with b.build() as dr:
            with anyio.fail_after(30):
                assert await dr.aexecute(["total"], inputs={"n": 2}) == {"total": 10}
        seen[where] = (sorted(tasks.before), sorted(tasks.after), sorted(tasks.expansions))
    before, after, expansions = seen["default"]
    assert ("inner", (1, 1), "skipped", "ValueError") in after
    assert ("inner", (0, 2), "delivered", "ValueError") in after
    assert ("inner", (1, 0), "done", "NoneType") in after
    assert ("inner", (1,), 3) in expansions
    assert seen[kind] == seen["default"]


ASYNC_ITEMS = """
from asyncdag.htypes import Collect, Parallelizable


def outer(n: int) -> Parallelizable[int]:
    return list(range(n))


async def leaf(outer: int) -> int:
    return outer


def total(leaf: Collect[int]) -> int:
    return sum(leaf)
"""


class _RaisesAfterLeaf(lifecycle.LifecycleHooks):
    def run_after_node_execution(self, *, node_name: str, **kw: Any) -> None:
        if node_name == "leaf":
            raise RuntimeError("the hook's own bug")


@pytest.mark.parametrize("n", [2, 40])
async def test_a_hook_raising_on_events_relayed_from_workers_fails_the_run_at_once(n: int) -> None:
    # the run fails while later batches are just being sent: a batch cancelled before its
    # worker started it must still be answered, or the run waits for it forever
    module = types.ModuleType(f"async_items_{n}")
    exec(compile(ASYNC_ITEMS, module.__name__, "exec"), module.__dict__)
    ex = executors.MultiProcessingExecutor(processes=2, concurrency=4)
    b = driver.Builder().with_modules(module).with_adapters(_RaisesAfterLeaf())
    b = b.with_local_executor(ex).with_remote_executor(ex)
    async with b.build() as dr:
        with anyio.fail_after(30), pytest.raises(errors.HookError, match="own bug"):
            await dr.aexecute(["total"], inputs={"n": n})


# -- a call of an item that another of its nodes ended meanwhile -------------------------------


class PairedEvents(lifecycle.LifecycleHooks):
    """Counts each (node, index)'s before and after events."""

    def __init__(self) -> None:
        self.before: list[tuple[str, tuple[int, ...]]] = []
        self.after: list[tuple[str, tuple[int, ...], bool]] = []

    def run_before_node_execution(self, *, node_name, index, **kw):  # type: ignore[no-untyped-def]
        self.before.append((node_name, index))

    def run_after_node_execution(self, *, node_name, index, success, **kw):  # type: ignore[no-untyped-def]
        self.after.append((node_name, index, success))

    def unclosed(self) -> list[tuple[str, tuple[int, ...]]]:
        closed = [(name, index) for name, index, _ in self.after]
        return [call for call in self.before if call not in closed]


@pytest.mark.parametrize("kind", ["default", "inline", "threads"])
async def test_an_async_call_running_when_its_item_ends_still_closes_its_hooks(kind: str) -> None:
    """Found by the fault property suite: ``sibling`` was inside its call when ``bad`` ended
    the item under ``on_error("skip")``; its ``run_after_node_execution`` never came, so a run
    that returned left a node call open."""
    from tests.dags_engine import ended_meanwhile

    ended_meanwhile.GO["go"] = asyncio.Event()
    events = PairedEvents()
    ex = {
        "default": lambda: None,
        "inline": executors.SynchronousLocalTaskExecutor,
        "threads": lambda: executors.MultiThreadingExecutor(max_tasks=4),
    }[kind]()
    b = driver.Builder().with_modules(ended_meanwhile).with_adapters(events)
    if ex is not None:
        b = b.with_remote_executor(ex)
    async with b.build() as dr:
        with anyio.fail_after(20):
            result = await dr.aexecute(["total"], inputs={"n": 2})
    assert result["total"] == 2  # item 0 skipped, item 1: 1 + 1
    assert ("sibling", (0,)) in events.before, events.before
    assert not events.unclosed(), f"calls never ended: {events.unclosed()}"
    assert ("sibling", (0,), True) in events.after  # its call ran to its end: a success


@pytest.mark.parametrize("kind", ["inline", "threads"])
async def test_a_sync_collector_of_an_ended_item_is_done_and_closed_when_the_run_returns(
    kind: str,
) -> None:
    """Found by the fault property suite: ``reader`` (a sync streaming collector, on a
    thread) belonged to an item that its expander's failure ended under ``on_error("skip")``;
    the run returned with the call still queued or running on its thread, and its hooks never
    closed. Now the run waits for it, a queued one does not start, and both close."""
    from tests.dags_engine import ended_meanwhile

    events = PairedEvents()
    for _ in range(20):  # the call is queued or already running, as the threads go
        events.before.clear()
        events.after.clear()
        ex: Any = (
            executors.SynchronousLocalTaskExecutor()
            if kind == "inline"
            else executors.MultiThreadingExecutor(max_tasks=4)
        )
        dr = driver.Builder().with_modules(ended_meanwhile).with_adapters(events)
        dr = dr.with_remote_executor(ex).build()
        with anyio.fail_after(20):
            result = await dr.aexecute(["read"], inputs={"n": 3})
        assert result["read"] == [2, 4]  # item 0 ended by its expander's failure
        pools = [ex.pool()] if hasattr(ex, "pool") else []
        pools.append(executors._SPARE_THREADS)
        assert all(pool.busy == 0 for pool in pools), "a thread of the run is still busy"
        assert not events.unclosed(), f"calls never ended: {events.unclosed()}"
        await dr.aclose()


@pytest.mark.parametrize("kind", ["inline", "threads"])
async def test_a_streaming_collector_returning_after_its_item_ended_gives_its_window_back(
    kind: str,
) -> None:
    """``reads_one`` (a sync streaming collector) reads one of ``piece``'s ten items, and
    returns after ``fails_late`` ended its item: what it left must give its window back, or
    ``piece`` (window 1) waits for credits forever and the run with it."""
    from tests.dags_engine import ended_meanwhile as m

    m.STARTED.clear()
    m.ENDED.clear()
    events = PairedEvents()
    ex: Any = (
        executors.SynchronousLocalTaskExecutor()
        if kind == "inline"
        else executors.MultiThreadingExecutor(max_tasks=4)
    )
    b = driver.Builder().with_modules(m).with_window(1).with_adapters(events)
    async with b.with_remote_executor(ex).build() as dr:
        with anyio.fail_after(20):
            result = await dr.aexecute(["gathered"], inputs={"n": 1})
    assert result["gathered"] == []  # the one item ended by fails_late
    assert ("reads_one", (0,)) in events.before
    assert not events.unclosed(), f"calls never ended: {events.unclosed()}"


@pytest.mark.parametrize("kind", ["default", "inline", "threads", "processes"])
async def test_an_expansion_waiting_for_a_value_its_ended_item_never_makes_stops(
    kind: str,
) -> None:
    """Found by the fault property suite (hunt mode, on processes): ``rows``' block reads
    ``part_total``, which item 0 never made (``parts`` failed under skip and ended the item);
    ``rows`` waited for it forever, and the run with it, on every executor."""
    from tests.dags_engine import gated_ended

    events = PairedEvents()
    ex: Any = {
        "default": lambda: None,
        "inline": executors.SynchronousLocalTaskExecutor,
        "threads": lambda: executors.MultiThreadingExecutor(max_tasks=4),
        "processes": lambda: executors.MultiProcessingExecutor(processes=2),
    }[kind]()
    b = driver.Builder().with_modules(gated_ended).with_adapters(events)
    if ex is not None:
        b = b.with_remote_executor(ex)
    async with b.build() as dr:
        with anyio.fail_after(30):
            result = await dr.aexecute(["totals"], inputs={"n": 3})
    # item 0 skipped; item k: part_total 2k, rows 0..2 -> 3 * 2k + 3
    assert result["totals"] == [9, 15]
    assert not events.unclosed(), f"calls never ended: {events.unclosed()}"
