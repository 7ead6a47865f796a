"""MultiProcessingExecutor: routing, what can travel to a worker, and how failures surface.

One process pool serves the whole module (workers are slow to start). Drivers built on it are
never closed, only their local executor is: ``Driver.close()`` would close the shared pool.
Worker processes share no memory with the test, so nodes report back through their values
(pids, thread names) or marker files (:mod:`tests.dags_exec.marks`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import pickle
import sys
import textwrap
import threading
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from asyncdag import driver
from asyncdag.errors import NodeExecutionError, RemoteError, SerializationError, WorkerDiedError
from asyncdag.execution import _wire, executors
from asyncdag.htypes import Collect, ItemFailure, Parallelizable
from tests.dags_exec import (
    async_items,
    delivered,
    failures,
    marks,
    nested_failure,
    routing,
    stuck,
    unpicklable,
    workload,
)
from tests.dags_exec.pids import living, wait_gone

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[1]
# the scripts import asyncdag (and tests.dags_exec) from this checkout
SUBPROCESS_ENV = {**os.environ, "PYTHONPATH": str(REPO)}


@pytest.fixture(scope="module")
def pool() -> Iterator[executors.MultiProcessingExecutor]:
    ex = executors.MultiProcessingExecutor(max_tasks=2)
    yield ex
    ex.close()


@contextlib.contextmanager
def on_pool(
    pool: executors.MultiProcessingExecutor,
    *modules: types.ModuleType,
    local: executors.TaskExecutor | None = None,
) -> Iterator[driver.Driver]:
    builder = driver.Builder().with_modules(*modules).with_remote_executor(pool)
    if local is not None:
        builder = builder.with_local_executor(local)
    dr = builder.build()
    try:
        yield dr
    finally:
        if dr.local is not pool:
            dr.local.close()  # not dr.close(): that would close the shared pool


def worker_pids(pool: executors.MultiProcessingExecutor) -> set[int]:
    return set(pool.pool().worker_pids())


# -- routing -------------------------------------------------------------------------------------


async def test_outer_nodes_run_in_the_loop_thread_and_blocks_on_workers(
    pool: executors.MultiProcessingExecutor,
) -> None:
    with on_pool(pool, routing, local=executors.SynchronousLocalTaskExecutor()) as dr:
        with anyio.fail_after(30):
            result = await dr.aexecute(["outer_where", "total", "wheres"], inputs={"n": 12})
    assert result["total"] == routing._reference(12)
    assert result["outer_where"] == (os.getpid(), threading.current_thread().name)
    item_pids = {pid for pid, _ in result["wheres"]}
    assert os.getpid() not in item_pids
    assert item_pids <= worker_pids(pool)


async def test_outer_nodes_on_an_asyncio_executor_run_on_its_threads(
    pool: executors.MultiProcessingExecutor,
) -> None:
    with on_pool(pool, routing, local=executors.AsyncioExecutor()) as dr:
        with anyio.fail_after(30):
            result = await dr.aexecute(["outer_where", "wheres"], inputs={"n": 4})
    pid, thread = result["outer_where"]
    assert pid == os.getpid()
    assert thread.startswith("asyncdag-worker")
    assert {p for p, _ in result["wheres"]} <= worker_pids(pool)


async def test_blocks_on_a_thread_executor_run_on_its_threads() -> None:
    ex = executors.MultiThreadingExecutor(max_tasks=3)
    dr = (
        driver.Builder()
        .with_modules(routing)
        .with_local_executor(executors.SynchronousLocalTaskExecutor())
        .with_remote_executor(ex)
        .build()
    )
    async with dr:
        with anyio.fail_after(10):
            result = await dr.aexecute(["outer_where", "wheres"], inputs={"n": 12})
    assert result["outer_where"] == (os.getpid(), threading.current_thread().name)
    assert {pid for pid, _ in result["wheres"]} == {os.getpid()}
    assert all(name.startswith("asyncdag-worker") for _, name in result["wheres"])


async def test_a_process_executor_as_local_executor_keeps_sync_nodes_off_the_loop(
    pool: executors.MultiProcessingExecutor,
) -> None:
    # DESIGN §3 "Never block the loop": in aexecute, sync user code runs on a thread or a
    # process unless the user chose an inline executor, and a process executor is not one.
    with on_pool(pool, routing, local=pool) as dr:
        with anyio.fail_after(30):
            result = await dr.aexecute(["outer_where", "total"], inputs={"n": 4})
    assert result["total"] == routing._reference(4)
    assert result["outer_where"] != (os.getpid(), threading.current_thread().name), (
        "outer sync node ran inline on the event loop's thread"
    )


EXECUTORS: dict[str, Callable[[], executors.TaskExecutor]] = {
    "inline": executors.SynchronousLocalTaskExecutor,
    "asyncio": executors.AsyncioExecutor,
    "threads": lambda: executors.MultiThreadingExecutor(max_tasks=4),
}


@pytest.mark.parametrize("name", [*EXECUTORS, "processes"])
async def test_the_same_dag_gives_the_same_result_on_every_executor(
    name: str, request: pytest.FixtureRequest
) -> None:
    outputs = ["total", "combined_list"]
    inputs = {"n": 17, "base": 3}
    if name == "processes":
        pool = request.getfixturevalue("pool")
        builder = driver.Builder().with_modules(workload).with_remote_executor(pool)
        dr = builder.build()
    else:
        ex = EXECUTORS[name]()
        builder = driver.Builder().with_modules(workload).with_remote_executor(ex)
        dr = builder.with_local_executor(ex).build()
    try:
        with anyio.fail_after(30):
            from_async = await dr.aexecute(outputs, inputs=inputs)
            from_sync = await anyio.to_thread.run_sync(
                functools.partial(dr.execute, outputs, inputs=inputs), abandon_on_cancel=True
            )
    finally:
        if name == "processes":
            dr.local.close()
        else:
            dr.close()
    assert from_async == workload._reference(17, 3)
    assert from_sync == from_async


# -- what runs inside a worker -------------------------------------------------------------------


async def test_async_nodes_and_a_nested_expansion_run_on_the_workers_own_loop(
    pool: executors.MultiProcessingExecutor,
) -> None:
    with on_pool(pool, workload) as dr:
        with anyio.fail_after(30):
            result = await dr.aexecute(["total", "loop_infos"], inputs={"n": 9, "base": 1})
    assert result["total"] == workload._reference(9, 1)["total"]
    pids = worker_pids(pool)
    for pid, running, thread in result["loop_infos"]:
        assert pid in pids and pid != os.getpid()
        assert running  # awaited on a running loop in the worker...
        assert thread == "MainThread"  # ...the worker's own, in its main thread


async def test_an_async_generator_feeds_async_nodes_on_workers(
    pool: executors.MultiProcessingExecutor,
) -> None:
    with on_pool(pool, async_items) as dr:
        with anyio.fail_after(30):
            result = await dr.aexecute(["total", "pids"], inputs={"n": 25})
    assert result["total"] == async_items._reference(25)
    assert set(result["pids"]) <= worker_pids(pool)


async def test_workers_are_reused_across_runs(pool: executors.MultiProcessingExecutor) -> None:
    with on_pool(pool, routing) as dr:
        with anyio.fail_after(30):
            await dr.aexecute(["total"], inputs={"n": 20})
            before = worker_pids(pool)
            second = await dr.aexecute(["wheres"], inputs={"n": 20})
            third = await dr.aexecute(["wheres"], inputs={"n": 20})
    after = worker_pids(pool)
    assert before and before <= after, "a worker was replaced between healthy runs"
    assert len(after) <= pool.max_tasks
    used = {pid for pid, _ in second["wheres"]} | {pid for pid, _ in third["wheres"]}
    assert used <= after
    assert used & before, "later runs did not use the workers of the first run"


async def test_functions_of_a_main_script_without_a_guard(tmp_path: Path) -> None:
    # The DAG module is __main__, run as a script, with no `if __name__ == "__main__"` guard:
    # workers must not re-run it, and its functions (and a lambda) travel by value.
    script = tmp_path / "main_dag.py"
    script.write_text(
        textwrap.dedent(
            """
            import json
            import os
            import sys

            from asyncdag import driver
            from asyncdag.execution import executors
            from asyncdag.htypes import Collect, Parallelizable

            _square = lambda x: x * x

            def item(n: int) -> Parallelizable[int]:
                yield from range(n)

            def squared(item: int) -> list:
                return [_square(item), os.getpid()]

            def total(squared: Collect[list]) -> list:
                return [sum(v for v, _ in squared), sorted({p for _, p in squared})]

            dr = (
                driver.Builder()
                .with_modules(sys.modules["__main__"])
                .with_remote_executor(executors.MultiProcessingExecutor(max_tasks=2))
                .build()
            )
            result = dr.execute(["total"], inputs={"n": 10})["total"]
            dr.close()
            print(json.dumps({"total": result[0], "pids": result[1], "me": os.getpid()}))
            """
        )
    )
    with anyio.fail_after(60):
        done = await anyio.run_process(
            [sys.executable, str(script)], cwd=REPO, env=SUBPROCESS_ENV, check=False
        )
    assert done.returncode == 0, done.stderr.decode()
    out = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert out["total"] == sum(i * i for i in range(10))
    assert out["pids"] and out["me"] not in out["pids"]


def _make_closure_module(factor: int) -> types.ModuleType:
    """A module made in memory whose nodes are closures, a lambda and a decorated function."""
    mod = types.ModuleType("asyncdag_test_closures")

    def logged(fn: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> int:
            return fn(**kwargs)

        return wrapper

    def item(n: int) -> Parallelizable[int]:
        yield from range(n)

    def scaled(item: int) -> int:
        return item * factor  # closes over factor

    @logged
    def checked(bumped: int) -> int:
        return bumped + factor

    def total(checked: Collect[int]) -> int:
        return sum(checked)

    bumped = lambda scaled: scaled + 1  # noqa: E731 - a lambda node on purpose

    for name, fn in {
        "item": item,
        "scaled": scaled,
        "bumped": bumped,
        "checked": checked,
        "total": total,
    }.items():
        fn.__module__ = mod.__name__
        setattr(mod, name, fn)
    return mod


async def test_closures_lambdas_and_decorated_functions_travel_by_value(
    pool: executors.MultiProcessingExecutor,
) -> None:
    mod = _make_closure_module(factor=7)
    with on_pool(pool, mod) as dr:
        with anyio.fail_after(30):
            result = await dr.aexecute(["total"], inputs={"n": 15})
    assert result["total"] == sum(i * 7 + 1 + 7 for i in range(15))


async def test_a_closure_over_an_unpicklable_object_names_the_block(
    pool: executors.MultiProcessingExecutor,
) -> None:
    lock = threading.Lock()
    mod = types.ModuleType("asyncdag_test_bad_closure")

    def item(n: int) -> Parallelizable[int]:
        yield from range(n)

    def locked(item: int) -> int:
        with lock:
            return item

    def total(locked: Collect[int]) -> int:
        return sum(locked)

    for fn in (item, locked, total):
        fn.__module__ = mod.__name__
        setattr(mod, fn.__name__, fn)
    with on_pool(pool, mod) as dr:
        with anyio.fail_after(30), pytest.raises(SerializationError) as info:
            await dr.aexecute(["total"], inputs={"n": 5})
    assert "'item'" in str(info.value) and "locked" in str(info.value)


# -- values that cannot travel -------------------------------------------------------------------


async def test_an_unpicklable_outer_value_fails_before_any_item_runs(
    pool: executors.MultiProcessingExecutor, tmp_path: Path
) -> None:
    with pytest.raises(TypeError):
        pickle.dumps(threading.Lock())
    inputs = {"n": 50, "lock_at": -1, "marks": str(tmp_path)}
    with on_pool(pool, unpicklable) as dr:
        with anyio.fail_after(30), pytest.raises(SerializationError) as info:
            await dr.aexecute(["guarded_count"], inputs=inputs)
    err = info.value
    assert err.node == "guard"
    assert "'guard'" in str(err) and "_thread.lock" in str(err)
    assert marks.count(tmp_path, "ran-") == 0


async def test_an_unpicklable_item_fails_before_the_items_after_it_run(
    pool: executors.MultiProcessingExecutor, tmp_path: Path
) -> None:
    lock_at, n = 5, 200
    inputs = {"n": n, "lock_at": lock_at, "marks": str(tmp_path)}
    with on_pool(pool, unpicklable) as dr:
        with anyio.fail_after(30), pytest.raises(SerializationError) as info:
            await dr.aexecute(["plain_count"], inputs=inputs)
    err = info.value
    assert err.node == "item"
    assert "'item'" in str(err) and "_thread.lock" in str(err) and f"({lock_at},)" in str(err)
    # Items travel in batches: at most those before the lock ran, never one after it.
    ran = marks.read(tmp_path, "ran-")
    assert len(ran) <= lock_at, sorted(ran)


# -- workers that die ----------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["exit", "segv"])
async def test_a_dead_worker_is_an_error_naming_the_task_and_the_pool_recovers(
    pool: executors.MultiProcessingExecutor, tmp_path: Path, how: str
) -> None:
    inputs = {"n": 20, "marks": str(tmp_path), "fail_at": 0, "how": how}
    with on_pool(pool, failures) as dr:
        with anyio.fail_after(30), pytest.raises(WorkerDiedError) as info:
            await dr.aexecute(["total"], inputs=inputs)
        # A fresh driver knows no item timings yet, so item 0 travels alone.
        assert "item (0,) of 'item'" in str(info.value)
        dead = int(marks.read(tmp_path, "started-0")["started-0"])
        assert dead not in worker_pids(pool)
        with anyio.fail_after(30):
            again = await dr.aexecute(["total"], inputs={**inputs, "fail_at": -1})
    assert again == {"total": failures._reference(20)}


@pytest.mark.parametrize(("how", "code"), [("exit", 3), ("segv", -11)])
async def test_a_dead_worker_error_reports_the_exit_code(
    pool: executors.MultiProcessingExecutor, tmp_path: Path, how: str, code: int
) -> None:
    inputs = {"n": 4, "marks": str(tmp_path), "fail_at": 0, "how": how}
    with on_pool(pool, failures) as dr:
        with anyio.fail_after(30), pytest.raises(WorkerDiedError) as info:
            await dr.aexecute(["total"], inputs=inputs)
    assert f"exit code {code})" in str(info.value)


# -- cancellation --------------------------------------------------------------------------------


async def _cancel_once_stuck(
    dr: driver.Driver, marks_dir: Path, n: int, stuck_items: int
) -> set[int]:
    """Start a run of ``stuck``, cancel it once ``stuck_items`` items hold a worker; return
    after ``aexecute`` has returned, with the pids of the workers that were stuck."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(
            functools.partial(dr.aexecute, ["total"], inputs={"n": n, "marks": str(marks_dir)})
        )
        while marks.count(marks_dir, "started-") < stuck_items:
            await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
    return {int(pid) for pid in marks.read(marks_dir, "started-").values()}


async def test_a_cancelled_run_drops_queued_work_and_recycles_stuck_workers(
    pool: executors.MultiProcessingExecutor, tmp_path: Path
) -> None:
    n = 40
    with on_pool(pool, stuck) as dr:
        with anyio.fail_after(30):
            stuck_pids = await _cancel_once_stuck(dr, tmp_path, n, pool.max_tasks)
    assert marks.count(tmp_path, "started-") == pool.max_tasks  # the rest never started
    assert len(stuck_pids) == pool.max_tasks
    with anyio.fail_after(10):
        await wait_gone(stuck_pids)  # killed, not left sleeping
    assert not stuck_pids & worker_pids(pool)
    with on_pool(pool, routing) as dr, anyio.fail_after(30):
        assert await dr.aexecute(["total"], inputs={"n": 30}) == {"total": routing._reference(30)}
    assert marks.count(tmp_path, "started-") == pool.max_tasks  # dropped work stays dropped


async def test_no_stuck_worker_still_runs_when_a_cancelled_run_returns(
    pool: executors.MultiProcessingExecutor, tmp_path: Path
) -> None:
    # DESIGN §3 Cancellation: "after cancellation no task, thread or process started for that
    # run is left running" -- so when the cancelled aexecute returns, the workers are gone.
    with on_pool(pool, stuck) as dr:
        with anyio.fail_after(30):
            stuck_pids = await _cancel_once_stuck(dr, tmp_path, 10, pool.max_tasks)
        still = living(stuck_pids)
        with anyio.fail_after(10):
            await wait_gone(stuck_pids)  # leave a clean pool for the next test
    assert not still, f"workers {still} still ran the cancelled run's tasks"


# -- a node's own error --------------------------------------------------------------------------


async def test_a_node_error_in_a_worker_names_node_index_and_cause(
    pool: executors.MultiProcessingExecutor, tmp_path: Path
) -> None:
    inputs = {"n": 20, "marks": str(tmp_path), "fail_at": 7, "how": "raise"}
    with on_pool(pool, failures) as dr:
        with anyio.fail_after(30), pytest.raises(NodeExecutionError) as info:
            await dr.aexecute(["total"], inputs=inputs)
    err = info.value
    assert (err.node, err.index) == ("checked", (7,))
    assert type(err.__cause__) is failures.Boom
    assert str(err.__cause__) == "item 7 is bad"
    assert "'checked'" in str(err) and "(7,)" in str(err)


async def test_a_nested_node_error_in_a_worker_has_the_full_index_path(
    pool: executors.MultiProcessingExecutor,
) -> None:
    with on_pool(pool, nested_failure) as dr:
        with anyio.fail_after(30):
            ok = await dr.aexecute(["total"], inputs={"n": 6, "fail_at": [-1, -1]})
            assert ok == {"total": nested_failure._reference(6)}
            with pytest.raises(NodeExecutionError) as info:
                await dr.aexecute(["total"], inputs={"n": 6, "fail_at": [4, 2]})
    err = info.value
    assert (err.node, err.index) == ("leaf", (4, 2))
    assert type(err.__cause__) is nested_failure.NestedBoom


# -- failures an item's own policy delivers ------------------------------------------------------


async def test_a_delivered_failure_comes_back_as_itself(
    pool: executors.MultiProcessingExecutor,
) -> None:
    with on_pool(pool, delivered) as dr, anyio.fail_after(60):
        found = (await dr.aexecute(["results"], inputs={"n": 9, "case": "rebuildable"}))["results"]
    failed = [r for r in found if isinstance(r, ItemFailure)]
    assert [r for r in found if not isinstance(r, ItemFailure)] == [0, 2, 3, 5, 6, 8]
    assert [(f.node, f.index, f.policy) for f in failed] == [
        ("fetched", (i,), "deliver") for i in (1, 4, 7)
    ]
    assert all(type(f.error) is delivered.Rebuildable for f in failed)
    assert [str(f.error) for f in failed] == ["item 1", "item 4", "item 7"]


async def test_a_delivered_failure_that_cannot_be_rebuilt_keeps_its_traceback_text(
    pool: executors.MultiProcessingExecutor,
) -> None:
    with on_pool(pool, delivered) as dr, anyio.fail_after(60):
        found = (await dr.aexecute(["results"], inputs={"n": 3, "case": "needs_args"}))["results"]
    (failure,) = [r for r in found if isinstance(r, ItemFailure)]
    err = failure.error
    if not isinstance(err, RemoteError):  # tblib taught pickle to rebuild it after all
        assert type(err).__name__ == "NeedsArgs"
        return
    assert (err.node, err.index) == ("fetched", (1,))
    assert err.type_name.endswith("NeedsArgs") and "HTTP 500" in err.remote_message
    assert "raise NeedsArgs" in err.remote_traceback


def test_an_ended_failure_travels_without_traceback_text_when_its_pickle_loads() -> None:
    record = _wire.error_record(delivered.Rebuildable("x"), ended=True)
    assert record[2] == "" and _wire.rebuild(record) is not None
    assert "Rebuildable" in _wire.error_record(delivered.Rebuildable("x"))[2]
