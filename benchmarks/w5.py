"""W5: executors. CPU-bound items on processes, and per-item overhead on every executor.

- **CPU-bound**: 40 items of ~50 ms of CPU each (``dags/w5_cpu.py``), inline
  (``SynchronousLocalTaskExecutor``) vs ``MultiProcessingExecutor(max_tasks=2)``; the ideal
  speed-up on 2 cores is 2x (target >= 1.8x). Hamilton's ``MultiProcessingExecutor(2)`` runs the
  same work as a peer.
- **Per-item overhead**: a trivial sync item function (``dags/w5_trivial*.py``), wall time
  per item on asyncdag's thread, process, Dask (a 2-worker ``LocalCluster``) and Ray (2 CPUs)
  executors, next to Hamilton's thread and process executors and its Ray executor. Hamilton
  runs fewer items (its per-item cost is milliseconds). Hamilton's Dask executor is left out:
  its plugin imports ``dask.dataframe``, which needs pyarrow.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from benchmarks._harness import Options, Row, add_ratios, median_of, progress, time_sync
from benchmarks.dags import w5_cpu, w5_cpu_hamilton, w5_trivial, w5_trivial_hamilton

WORKLOAD = "W5"
CPU_CASE = "40 x 50 ms CPU"


def _asyncdag(module: Any, remote: Any) -> Any:
    from asyncdag import driver

    return driver.Builder().with_modules(module).with_remote_executor(remote).build()


def _hamilton(module: Any, remote: Any) -> Any:
    from hamilton import driver

    return (
        driver.Builder()
        .with_modules(module)
        .enable_dynamic_execution(allow_experimental_mode=True)
        .with_remote_executor(remote)
        .build()
    )


def _per_item(run: Callable[[], Any], n: int, repeats: int, want: int) -> tuple[float, str]:
    def check(result: Any) -> None:
        assert result["total"] == want, result

    samples = time_sync(run, repeats=repeats, check=check)
    per_item = [s / n * 1e6 for s in samples]
    low, high = min(per_item), max(per_item)
    return median_of(per_item), f"{n:,} items; {low:.0f}..{high:.0f}"


def cpu_rows(n: int = 40, cost: float = 0.05, repeats: int = 2) -> list[Row]:
    from hamilton.execution import executors as h_executors

    from asyncdag.execution import executors

    inputs = {"n": n, "cost": cost}
    want = n * (n - 1) // 2
    case = f"{n} x {cost * 1e3:g} ms CPU"
    rows: list[Row] = []

    def check(result: Any) -> None:
        assert result["total"] == want, result

    systems: list[tuple[str, Any]] = [
        ("asyncdag inline", _asyncdag(w5_cpu, executors.SynchronousLocalTaskExecutor())),
        ("asyncdag processes(2)", _asyncdag(w5_cpu, executors.MultiProcessingExecutor(2))),
        (
            "Hamilton processes(2)",
            _hamilton(w5_cpu_hamilton, h_executors.MultiProcessingExecutor(max_tasks=2)),
        ),
    ]
    for name, dr in systems:
        progress(f"W5 {name}")
        samples = time_sync(
            lambda dr=dr: dr.execute(["total"], inputs=inputs), repeats=repeats, check=check
        )
        rows.append(Row(WORKLOAD, case, name, median_of(samples), "s"))
        with contextlib.suppress(Exception):
            dr.close()
    add_ratios(rows, ["asyncdag inline"])
    return rows


@contextlib.contextmanager
def _dask() -> Iterator[Any]:
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@contextlib.contextmanager
def _ray() -> Iterator[None]:
    import ray

    from asyncdag.plugins.ray import init_local

    init_local(num_cpus=2, logging_level=logging.ERROR)
    try:
        yield
    finally:
        ray.shutdown()


def overhead_rows(
    n: int = 2000, hamilton_n: int = 200, repeats: int = 3, clusters: bool = True
) -> list[Row]:
    from hamilton.execution import executors as h_executors

    from asyncdag.execution import executors

    rows: list[Row] = []
    case = "trivial sync item"

    def add(system: str, dr: Any, items: int) -> None:
        progress(f"W5 {system}")
        inputs = {"n": items}
        want = items * (items + 1) // 2
        value, note = _per_item(lambda: dr.execute(["total"], inputs=inputs), items, repeats, want)
        rows.append(Row(WORKLOAD, case, system, value, "us/item", note))

    local = [
        ("asyncdag threads(4)", _asyncdag(w5_trivial, executors.MultiThreadingExecutor(4)), n),
        ("asyncdag processes(2)", _asyncdag(w5_trivial, executors.MultiProcessingExecutor(2)), n),
        (
            "Hamilton threads(4)",
            _hamilton(w5_trivial_hamilton, h_executors.MultiThreadingExecutor(max_tasks=4)),
            hamilton_n,
        ),
        (
            "Hamilton processes(2)",
            _hamilton(w5_trivial_hamilton, h_executors.MultiProcessingExecutor(max_tasks=2)),
            hamilton_n,
        ),
    ]
    for system, dr, items in local:
        add(system, dr, items)
        with contextlib.suppress(Exception):
            dr.close()
    if clusters:
        from asyncdag.plugins.dask import DaskExecutor
        from asyncdag.plugins.ray import RayExecutor

        with _dask() as client:
            dr = _asyncdag(w5_trivial, DaskExecutor(client))
            add("asyncdag Dask(2 workers)", dr, n)
        with _ray():
            from hamilton.plugins.h_ray import RayTaskExecutor

            add("asyncdag Ray(2 CPUs)", _asyncdag(w5_trivial, RayExecutor()), n)
            add(
                "Hamilton Ray(2 CPUs)",
                _hamilton(w5_trivial_hamilton, RayTaskExecutor(skip_init=True)),
                hamilton_n,
            )
    add_ratios(rows, ["asyncdag processes(2)"])
    return rows


def targets(rows: list[Row]) -> list[str]:
    found = []
    by = {(r.case, r.system): r.value for r in rows}
    for case in {r.case for r in rows if r.case.endswith("CPU")}:
        inline, procs = by.get((case, "asyncdag inline")), by.get((case, "asyncdag processes(2)"))
        if inline and procs:
            speedup = inline / procs
            verdict = "MET   " if speedup >= 1.8 else "MISSED"
            found.append(
                f"{verdict}  W5 processes vs inline >= 1.8x on 2 cores (is {speedup:.2f}x)"
            )
    procs = by.get(("trivial sync item", "asyncdag processes(2)"))
    if procs is not None:
        verdict = "MET   " if procs <= 300 else "MISSED"
        found.append(f"{verdict}  W5 per-item overhead on processes <= 300 us (is {procs:.1f} us)")
    return found


def run(opts: Options) -> tuple[list[Row], list[str]]:
    warnings.filterwarnings("ignore")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    started = time.perf_counter()
    rows = cpu_rows(repeats=min(opts.repeats, 2)) + overhead_rows(repeats=min(opts.repeats, 3))
    progress(f"W5 done in {time.perf_counter() - started:.0f} s")
    return rows, targets(rows)
