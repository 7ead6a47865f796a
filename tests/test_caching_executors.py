"""The cache hits and misses the same on every executor: inline, threads, worker processes, a
Dask LocalCluster and a local Ray. Nodes count their calls in a file (a side channel that
works from any process); the counts must equal those of the in-process run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from asyncdag import driver
from asyncdag.caching._store import forget_stores
from asyncdag.execution import executors
from tests.dags_cache import counted

# (inputs n, what must run) for three runs; before the third, the process forgets its stores
SCENARIO: list[tuple[int, dict[str, int]]] = [
    (8, {"item": 1, "total": 1, **{f"square:{i}": 1 for i in range(8)}}),
    (10, {"item": 1, "total": 1, "square:8": 1, "square:9": 1}),
    (10, {}),
]


def _expected(step: dict[str, int]) -> dict[str, int]:
    out = dict(step)
    for name in [k for k in step if k.startswith("square:")]:
        i = int(name.split(":")[1])
        out[f"shifted:{i * i}"] = 1
    return out


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture(scope="module")
def ray_runtime() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    from asyncdag.plugins.ray import init_local

    init_local(num_cpus=2)
    try:
        yield
    finally:
        ray.shutdown()


def _remote(kind: str, request: pytest.FixtureRequest) -> Callable[[], Any] | None:
    if kind == "inline":
        return None
    if kind == "threads":
        return lambda: executors.MultiThreadingExecutor(max_tasks=3)
    if kind == "processes":
        return lambda: executors.MultiProcessingExecutor(max_tasks=2)
    if kind == "dask":
        from asyncdag.plugins.dask import DaskExecutor

        client = request.getfixturevalue("dask_client")
        return lambda: DaskExecutor(client)
    from asyncdag.plugins.ray import RayExecutor

    request.getfixturevalue("ray_runtime")
    return lambda: RayExecutor()


@pytest.mark.parametrize("kind", ["inline", "threads", "processes", "dask", "ray"])
def test_hits_and_misses_equal_the_in_process_run(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    make = _remote(kind, request)
    log = tmp_path / "calls.log"
    cache_dir = tmp_path / "cache"
    for run, (n, want) in enumerate(SCENARIO):
        if run == 2:
            forget_stores()
        builder = driver.Builder().with_modules(counted).with_cache(cache_dir)
        if make is not None:
            builder = builder.with_remote_executor(make())
        dr = builder.build()
        try:
            result = dr.execute(["total"], inputs={"n": n, "offset": 3, "log_path": str(log)})
        finally:
            if kind in ("inline", "threads", "processes"):
                dr.close()
        assert result == {"total": counted.expected_total(n, 3)}
        assert dict(counted.calls(str(log))) == _expected(want), (kind, run)
        # dr.cache's log of the run counts the items' hits and misses, wherever they ran
        misses, hits = dr.cache.misses(), dr.cache.hits()
        ran = sum(1 for k in want if k.startswith("square:"))
        assert (misses["square"], hits["square"]) == (ran, n - ran), (kind, run)
        assert (misses["shifted"], hits["shifted"]) == (ran, n - ran), (kind, run)
        log.unlink(missing_ok=True)
    forget_stores()


@pytest.mark.parametrize("kind", ["inline", "threads", "processes", "dask", "ray"])
def test_an_all_sync_block_is_cached_and_logged_on_every_executor(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A block of sync nodes only runs whole, off the loop (a thread, a worker process, a
    cluster worker): its items are still keyed, logged by item and tied to their run."""
    make = _remote(kind, request)
    log = tmp_path / "calls.log"
    for n, ran in ((4, 4), (6, 2)):
        builder = driver.Builder().with_modules(counted).with_cache(tmp_path / "cache")
        if make is not None:
            builder = builder.with_remote_executor(make())
        dr = builder.build()
        try:
            result = dr.execute(["square_sum"], inputs={"n": n, "log_path": str(log)})
        finally:
            if kind in ("inline", "threads", "processes"):
                dr.close()
        assert result == {"square_sum": sum(i * i for i in range(n))}
        calls = counted.calls(str(log))
        assert sum(v for k, v in calls.items() if k.startswith("square:")) == ran, (kind, n)
        assert (dr.cache.misses()["square"], dr.cache.hits()["square"]) == (ran, n - ran), kind
        items = {k for k in dr.cache.logs(run_id=dr.cache.last_run_id) if isinstance(k, tuple)}
        assert items == {("square", str(i)) for i in range(n)}, kind
        dr.cache.flush(30)
        stored = dr.cache.metadata_store.get_run(dr.cache.last_run_id)
        assert sum(e["node_name"] == "square" for e in stored) == ran, kind
        log.unlink(missing_ok=True)
    forget_stores()
