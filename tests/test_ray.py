"""RayExecutor on a local Ray: same results, errors with their cause, cancellation.

One Ray runtime (two CPUs, no dashboard) serves the module and is shut down at its end. The
executor does not own Ray, so drivers may be closed freely.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed (import ray failed)")

from asyncdag import driver, lifecycle  # noqa: E402
from asyncdag.errors import ExecutorError, NodeExecutionError  # noqa: E402
from asyncdag.plugins.ray import RayExecutor, init_local  # noqa: E402
from tests.dags_engine import hooked  # noqa: E402
from tests.dags_exec import (  # noqa: E402
    failures,
    marks,
    nested_failure,
    ray_opts,
    res_sync,
    stuck,
    workload,
)
from tests.dags_exec.pids import wait_gone  # noqa: E402
from tests.hook_recorders import NodeEvents  # noqa: E402
from tests.ray_loopback import assert_ray_listens_on_loopback_only  # noqa: E402

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module", autouse=True)
def ray_runtime() -> Iterator[None]:
    init_local(num_cpus=2, resources={"scraper": 2})  # a custom resource: @ray_remote_options
    try:
        yield
    finally:
        ray.shutdown()


def on_ray(*modules: object) -> driver.Driver:
    return driver.Builder().with_modules(*modules).with_remote_executor(RayExecutor()).build()


async def test_results_equal_the_reference(tmp_path: Path) -> None:
    outputs = ["total", "combined_list", "loop_infos"]
    inputs = {"n": 11, "base": 4}
    with on_ray(workload) as dr:
        with anyio.fail_after(60):
            from_async = await dr.aexecute(outputs, inputs=inputs)
            from_sync = await anyio.to_thread.run_sync(
                functools.partial(dr.execute, outputs, inputs=inputs), abandon_on_cancel=True
            )
    expected = workload._reference(11, 4)
    for result in (from_async, from_sync):
        assert {k: result[k] for k in expected} == expected
    pids = {pid for pid, running, _ in from_async["loop_infos"] if running}
    assert pids and os.getpid() not in pids


async def test_max_tasks_defaults_to_twice_the_cluster_cpus() -> None:
    assert RayExecutor().max_tasks == 4
    assert RayExecutor(max_tasks=1).max_tasks == 1


async def test_a_failing_node_raises_node_execution_error_with_its_cause(
    tmp_path: Path,
) -> None:
    inputs = {"n": 12, "marks": str(tmp_path), "fail_at": 7, "how": "raise"}
    with on_ray(failures) as dr:
        with anyio.fail_after(60), pytest.raises(NodeExecutionError) as info:
            await dr.aexecute(["total"], inputs=inputs)
        err = info.value
        assert (err.node, err.index) == ("checked", (7,))
        assert type(err.__cause__) is failures.Boom
        assert str(err.__cause__) == "item 7 is bad"
        with anyio.fail_after(60):
            ok = await dr.aexecute(["total"], inputs={**inputs, "fail_at": -1})
    assert ok == {"total": failures._reference(12)}


async def test_a_nested_failure_has_the_full_index_path() -> None:
    with on_ray(nested_failure) as dr:
        with anyio.fail_after(60), pytest.raises(NodeExecutionError) as info:
            await dr.aexecute(["total"], inputs={"n": 5, "fail_at": [3, 1]})
    assert (info.value.node, info.value.index) == ("leaf", (3, 1))
    assert type(info.value.__cause__) is nested_failure.NestedBoom


async def test_a_per_worker_resource_is_built_once_per_ray_worker(tmp_path: Path) -> None:
    inputs = {"n": 30, "marks": str(tmp_path)}
    with on_ray(res_sync) as dr:
        with anyio.fail_after(60):
            runs = [await dr.aexecute(["uses"], inputs=inputs) for _ in range(2)]
    made: dict[int, list[str]] = {}
    for name in marks.read(tmp_path, "built-"):
        _, pid, token = name.split("-", 2)
        made.setdefault(int(pid), []).append(token)
    assert made and all(len(tokens) == 1 for tokens in made.values()), made
    assert all(made[pid] == [token] for run in runs for _, pid, token in run["uses"])


async def test_cancelling_a_run_kills_the_ray_tasks_it_started(tmp_path: Path) -> None:
    with on_ray(stuck) as dr:
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(
                    functools.partial(
                        dr.aexecute, ["total"], inputs={"n": 20, "marks": str(tmp_path)}
                    )
                )
                while marks.count(tmp_path, "started-") < 2:  # both CPUs are stuck
                    await anyio.sleep(0.01)
                tg.cancel_scope.cancel()
        started = {int(pid) for pid in marks.read(tmp_path, "started-").values()}
        assert marks.count(tmp_path, "started-") <= 4  # max_tasks: the rest never shipped
        with anyio.fail_after(30):
            await wait_gone(started)  # force-cancelled, not left sleeping for 60 s
    with on_ray(workload) as dr, anyio.fail_after(60):  # Ray still serves the next run
        again = await dr.aexecute(["total"], inputs={"n": 6, "base": 1})
    assert again["total"] == workload._reference(6, 1)["total"]


async def test_async_items_run_side_by_side_in_an_actor_and_come_back_one_by_one(
    tmp_path: Path,
) -> None:
    from tests.dags_engine import in_worker

    order: list[tuple[int, ...]] = []

    class Order(lifecycle.LifecycleHooks):
        def run_after_task_execution(self, *, index, **kw):  # type: ignore[no-untyped-def]
            order.append(index)

    ex = RayExecutor(concurrency=4, actors=1)
    dr = (
        driver.Builder()
        .with_modules(in_worker)
        .with_remote_executor(ex)
        .with_adapters(Order())
        .build()
    )
    inputs = {"n": 4, "token": "ray-side", "others": 3, "marks": str(tmp_path)}
    try:
        with anyio.fail_after(60):
            assert await dr.aexecute(["total"], inputs=inputs) == {"total": 6}
    finally:
        ex.close()
    assert order[-1] == (0,)  # items 1..3 came back while item 0 still ran beside them


async def test_cancelling_a_run_cancels_each_async_item_in_the_actors(tmp_path: Path) -> None:
    import asyncio

    from tests.dags_engine import in_worker

    ex = RayExecutor(concurrency=8, actors=2)
    dr = driver.Builder().with_modules(in_worker).with_remote_executor(ex).build()
    inputs = {"n": 12, "token": "ray-held", "others": -1, "marks": str(tmp_path)}
    try:
        run = asyncio.ensure_future(dr.aexecute(["total"], inputs=inputs))
        with anyio.fail_after(60):
            while len(list(tmp_path.glob("started-*"))) < 11:
                await anyio.sleep(0.01)
        run.cancel()
        with anyio.fail_after(60), pytest.raises(asyncio.CancelledError):
            await run
        with anyio.fail_after(60):  # each item saw CancelledError in its actor
            while len(list(tmp_path.glob("cancelled-*"))) < 11:
                await anyio.sleep(0.01)
        inputs = {"n": 5, "token": "ray-after", "others": 0, "marks": str(tmp_path)}
        with anyio.fail_after(60):
            assert await dr.aexecute(["total"], inputs=inputs) == {"total": 10}
    finally:
        ex.close()


async def test_node_hooks_fire_for_every_node_that_ran_on_the_cluster() -> None:
    seen = NodeEvents()
    dr = (
        driver.Builder()
        .with_modules(hooked)
        .with_adapters(seen)
        .with_remote_executor(RayExecutor(concurrency=4))
        .build()
    )
    with dr:
        with anyio.fail_after(60):
            await dr.aexecute(["sync_total", "async_total"], inputs={"n": 3})
    per_item = {(node, (i,)) for i in range(3) for node in ("parse", "measure", "fetch", "digest")}
    outside = {("item", ()), ("sync_total", ()), ("async_total", ())}
    assert seen.after == per_item | outside
    assert seen.before == seen.after


async def test_ray_remote_options_place_the_blocks_of_their_nodes() -> None:
    with on_ray(ray_opts) as dr:
        with anyio.fail_after(120):
            got = await dr.aexecute(["sync_all", "async_all"], inputs={"n": 4})
    # sync blocks ran as tasks asking for the resource, async blocks on actors holding it
    assert got["sync_all"] == [["CPU", "scraper"]] * 4
    assert all("scraper" in seen for seen in got["async_all"]) and len(got["async_all"]) == 4


async def test_nodes_of_one_block_asking_ray_for_different_options_is_a_clear_error() -> None:
    with on_ray(ray_opts) as dr:
        with anyio.fail_after(60), pytest.raises(ExecutorError) as info:
            await dr.aexecute(["both"], inputs={"n": 2})
    assert "'one'" in str(info.value) and "'two'" in str(info.value)
    assert "runtime_env" in str(info.value)


def test_a_local_ray_listens_on_loopback_only() -> None:
    assert_ray_listens_on_loopback_only()


async def test_a_lost_actor_fails_its_items_by_name_and_the_next_run_has_a_fresh_one() -> None:
    from asyncdag.errors import WorkerDiedError
    from tests.dags_exec import lost_worker

    ex = RayExecutor(concurrency=8, actors=1)
    dr = driver.Builder().with_modules(lost_worker).with_remote_executor(ex).build()
    try:
        with anyio.fail_after(90):
            with pytest.raises((WorkerDiedError, NodeExecutionError)) as info:
                await dr.aexecute(["total"], inputs={"n": 6, "lose": 3})
            text = str(info.value)
            assert "Ray actor" in text and "'item'" in text, text
            assert await dr.aexecute(["total"], inputs={"n": 6, "lose": -1}) == {"total": 30}
    finally:
        ex.close()


def test_ray_shut_down_under_an_open_executor_ends_its_readers_without_a_crash() -> None:
    """In a process of its own (this module's Ray stays up): a run on actors, then
    ``ray.shutdown()`` with the executor still open. The threads that waited for the actors'
    answers end, and the process exits normally (a thread left inside Ray aborted it)."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import asyncio, threading, time
        import ray
        from asyncdag import driver
        from asyncdag.plugins.ray import RayExecutor, init_local
        from tests.dags_exec import async_items

        init_local(num_cpus=1)
        ex = RayExecutor(concurrency=4, actors=1)
        dr = driver.Builder().with_modules(async_items).with_remote_executor(ex).build()
        print(asyncio.run(dr.aexecute(["total"], inputs={"n": 5}))["total"])
        ray.shutdown()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
            t.name == "asyncdag-process-reader" for t in threading.enumerate()
        ):
            time.sleep(0.05)
        print(sum(t.name == "asyncdag-process-reader" for t in threading.enumerate()))
        """
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=100,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["100", "0"], done.stdout
