"""DaskExecutor on a real LocalCluster: same results, max_tasks, errors, per-worker resources.

One cluster (two worker processes, one thread each) serves the module. The executor does not
own the client, so closing a driver leaves the cluster running for the next test.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")

from asyncdag import driver, lifecycle  # noqa: E402
from asyncdag.errors import NodeExecutionError  # noqa: E402
from asyncdag.plugins.dask import DaskExecutor  # noqa: E402
from tests.dags_engine import hooked  # noqa: E402
from tests.dags_exec import (  # noqa: E402
    dask_gate,
    failures,
    marks,
    nested_failure,
    res_sync,
    workload,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def dask_pids(client: Any) -> set[int]:
    return set(client.run(os.getpid).values())


async def test_results_equal_the_reference_and_blocks_run_on_dask_workers(client: Any) -> None:
    outputs = ["total", "combined_list", "loop_infos"]
    inputs = {"n": 13, "base": 2}
    dr = driver.Builder().with_modules(workload).with_remote_executor(DaskExecutor(client)).build()
    with dr:
        with anyio.fail_after(30):
            from_async = await dr.aexecute(outputs, inputs=inputs)
            from_sync = await anyio.to_thread.run_sync(
                functools.partial(dr.execute, outputs, inputs=inputs), abandon_on_cancel=True
            )
    expected = workload._reference(13, 2)
    for result in (from_async, from_sync):
        assert {k: result[k] for k in expected} == expected
    pids = {pid for pid, running, _ in from_async["loop_infos"] if running}
    assert pids and pids <= dask_pids(client) and os.getpid() not in pids
    assert client.submit(lambda: 41 + 1).result(timeout=10) == 42  # the driver left it open


async def test_max_tasks_defaults_to_twice_the_cluster_threads(client: Any) -> None:
    assert DaskExecutor(client).max_tasks == 2 * sum(client.nthreads().values()) == 4


class CountingDaskExecutor(DaskExecutor):
    """Counts batches in flight; opens ``gate`` once ``max_tasks`` of them are."""

    def __init__(self, client: Any, max_tasks: int, gate: str) -> None:
        super().__init__(client, max_tasks)
        self.gate = gate
        self.in_flight = 0
        self.max_in_flight = 0
        self.shipped = 0

    async def ship(self, key: str, plan: bytes, data: bytes, what: str) -> bytes:
        self.in_flight += 1  # only the run's loop thread calls ship: no lock needed
        self.shipped += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.in_flight == self.max_tasks:
                event = distributed.Event(self.gate, client=self.client)
                await anyio.to_thread.run_sync(event.set)
            return await super().ship(key, plan, data, what)
        finally:
            self.in_flight -= 1


async def test_max_tasks_bounds_the_batches_in_flight(client: Any) -> None:
    # 3 > the cluster's 2 threads: the bound is the executor's, not the cluster's.
    ex = CountingDaskExecutor(client, max_tasks=3, gate=f"gate-{uuid.uuid4().hex}")
    dr = driver.Builder().with_modules(dask_gate).with_remote_executor(ex).build()
    with dr:
        with anyio.fail_after(40):
            result = await dr.aexecute(["total"], inputs={"n": 24, "gate": ex.gate})
    assert result == {"total": sum(range(24))}
    assert ex.max_in_flight == 3  # reached (else the items would still wait), never exceeded
    assert ex.in_flight == 0


async def test_a_failing_node_raises_node_execution_error_with_its_cause(
    client: Any, tmp_path: Path
) -> None:
    inputs = {"n": 20, "marks": str(tmp_path), "fail_at": 7, "how": "raise"}
    dr = driver.Builder().with_modules(failures).with_remote_executor(DaskExecutor(client)).build()
    with dr:
        with anyio.fail_after(30), pytest.raises(NodeExecutionError) as info:
            await dr.aexecute(["total"], inputs=inputs)
        err = info.value
        assert (err.node, err.index) == ("checked", (7,))
        assert type(err.__cause__) is failures.Boom
        with anyio.fail_after(30):  # the next run on the same driver works
            ok = await dr.aexecute(["total"], inputs={**inputs, "fail_at": -1})
    assert ok == {"total": failures._reference(20)}


async def test_a_nested_failure_has_the_full_index_path(client: Any) -> None:
    ex = DaskExecutor(client)
    dr = driver.Builder().with_modules(nested_failure).with_remote_executor(ex).build()
    with dr:
        with anyio.fail_after(30), pytest.raises(NodeExecutionError) as info:
            await dr.aexecute(["total"], inputs={"n": 6, "fail_at": [5, 3]})
    assert (info.value.node, info.value.index) == ("leaf", (5, 3))
    assert type(info.value.__cause__) is nested_failure.NestedBoom


async def test_a_per_worker_resource_is_built_once_per_dask_worker(
    client: Any, tmp_path: Path
) -> None:
    dr = driver.Builder().with_modules(res_sync).with_remote_executor(DaskExecutor(client)).build()
    inputs = {"n": 30, "marks": str(tmp_path)}
    with dr:
        with anyio.fail_after(30):
            runs = [await dr.aexecute(["uses"], inputs=inputs) for _ in range(2)]
    made = {}
    for name in marks.read(tmp_path, "built-"):
        _, pid, token = name.split("-", 2)
        made.setdefault(int(pid), []).append(token)
    assert made and all(len(tokens) == 1 for tokens in made.values()), made
    assert set(made) <= dask_pids(client)
    uses = {(pid, token) for run in runs for _, pid, token in run["uses"]}
    assert all(made[pid] == [token] for pid, token in uses)


async def test_async_items_of_a_task_run_at_once_on_the_workers_loop(tmp_path: Path) -> None:
    from asyncdag.plugins.dask import DaskExecutor
    from tests.dags_engine import in_worker

    # one worker with one thread: item 0 finishes only once items 1..3 have finished beside
    # it, which needs them in the same Dask task, at once on the worker's loop
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    one = distributed.Client(cluster)
    try:
        ex = DaskExecutor(one, concurrency=4)
        dr = driver.Builder().with_modules(in_worker).with_remote_executor(ex).build()
        inputs = {"n": 4, "token": "dask-side", "others": 3, "marks": str(tmp_path)}
        with anyio.fail_after(60):
            assert await dr.aexecute(["total"], inputs=inputs) == {"total": 6}
    finally:
        one.close()
        cluster.close()


class _Seen(lifecycle.LifecycleHooks):
    def __init__(self) -> None:
        self.before: set[tuple[str, tuple[int, ...]]] = set()
        self.after: set[tuple[str, tuple[int, ...]]] = set()

    def run_before_node_execution(self, *, node_name, index, **kw):  # type: ignore[no-untyped-def]
        self.before.add((node_name, index))

    def run_after_node_execution(self, *, node_name, index, success, **kw):  # type: ignore[no-untyped-def]
        assert success
        self.after.add((node_name, index))


async def test_node_hooks_fire_for_every_node_that_ran_on_the_cluster(client: Any) -> None:
    seen = _Seen()
    dr = (
        driver.Builder()
        .with_modules(hooked)
        .with_adapters(seen)
        .with_remote_executor(DaskExecutor(client, concurrency=4))
        .build()
    )
    with dr:
        with anyio.fail_after(60):
            await dr.aexecute(["sync_total", "async_total"], inputs={"n": 3})
    per_item = {(node, (i,)) for i in range(3) for node in ("parse", "measure", "fetch", "digest")}
    outside = {("item", ()), ("sync_total", ()), ("async_total", ())}
    assert seen.after == per_item | outside
    assert seen.before == seen.after


def test_the_local_cluster_listens_on_loopback_only(client: Any) -> None:
    psutil = pytest.importorskip("psutil")
    worker_pids = set(client.run(os.getpid).values())
    ours = {os.getpid()} | {p.pid for p in psutil.Process().children(recursive=True)}
    assert worker_pids <= ours  # the processes looked at are this cluster's
    listening = [
        (c.laddr.ip, c.laddr.port, c.pid)
        for c in psutil.net_connections("inet")
        if c.status == psutil.CONN_LISTEN and c.pid in ours
    ]
    assert {pid for _, _, pid in listening} & worker_pids  # the workers' servers are seen
    assert all(ip in ("127.0.0.1", "::1", "::ffff:127.0.0.1") for ip, _, _ in listening), listening
