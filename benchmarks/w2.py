"""W2: I/O latency hiding. 1,000 items each wait 20 ms, at most 50 at a time.

Ideal wall time: 1000 / 50 x 20 ms = 0.4 s. Systems:

- plain asyncio: ``gather`` over the items, each under ``asyncio.Semaphore(50)``,
  ``await asyncio.sleep(0.02)``;
- asyncdag ``aexecute`` with ``AsyncioExecutor(max_tasks=50)``, async item function
  (``dags/w2_asyncdag.py``);
- Hamilton V2 with ``MultiThreadingExecutor(max_tasks=50)``, item function
  ``time.sleep(0.02)`` (``dags/w2_hamilton.py``).

Figures: median wall seconds and % over the ideal.
"""

from __future__ import annotations

import asyncio
from typing import Any

from benchmarks._harness import (
    Options,
    Row,
    add_ratios,
    arun,
    median_of,
    progress,
    time_async,
    time_sync,
)
from benchmarks.dags import w2_asyncdag, w2_hamilton

WORKLOAD = "W2"
PLAIN = "plain asyncio"
ASYNC = "asyncdag aexecute"
HAMILTON = "Hamilton V2 threads"


def ideal(n: int, concurrency: int, delay: float) -> float:
    return -(-n // concurrency) * delay


async def plain_asyncio(n: int, concurrency: int, delay: float) -> int:
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> int:
        async with sem:
            await asyncio.sleep(delay)
            return i

    return sum(await asyncio.gather(*(one(i) for i in range(n))))


def bench(
    n: int = 1000,
    concurrency: int = 50,
    delay: float = 0.02,
    repeats: int = 3,
    loop: str = "uvloop",
) -> list[Row]:
    from hamilton import driver as h_driver
    from hamilton.execution import executors as h_executors

    from asyncdag import driver as a_driver
    from asyncdag.execution import executors as a_executors

    best = ideal(n, concurrency, delay)
    case = f"{n} x {delay * 1e3:g} ms @ {concurrency}"
    want = n * (n - 1) // 2
    inputs = {"n": n, "delay": delay}
    rows: list[Row] = []

    def check(result: Any) -> None:
        got = result["total"] if isinstance(result, dict) else result
        assert got == want, got

    def add(system: str, samples: list[float]) -> None:
        wall = median_of(samples)
        rows.append(
            Row(WORKLOAD, case, system, wall, "s", f"{(wall / best - 1) * 100:+.0f}% vs ideal")
        )

    rows.append(Row(WORKLOAD, case, "ideal", best, "s"))
    dr = (
        a_driver.Builder()
        .with_modules(w2_asyncdag)
        .with_remote_executor(a_executors.AsyncioExecutor(max_tasks=concurrency))
        .build()
    )

    async def async_systems() -> None:
        progress(f"W2 {PLAIN}")
        add(
            PLAIN,
            await time_async(
                lambda: plain_asyncio(n, concurrency, delay), repeats=repeats, check=check
            ),
        )
        progress(f"W2 {ASYNC}")
        add(
            ASYNC,
            await time_async(
                lambda: dr.aexecute(["total"], inputs=inputs), repeats=repeats, check=check
            ),
        )

    arun(async_systems, loop)
    dr.close()

    progress(f"W2 {HAMILTON}")
    h_dr = (
        h_driver.Builder()
        .with_modules(w2_hamilton)
        .enable_dynamic_execution(allow_experimental_mode=True)
        .with_remote_executor(h_executors.MultiThreadingExecutor(max_tasks=concurrency))
        .build()
    )
    add(
        HAMILTON,
        time_sync(lambda: h_dr.execute(["total"], inputs=inputs), repeats=repeats, check=check),
    )
    add_ratios(rows, ["ideal", PLAIN])
    return rows


def run(opts: Options) -> tuple[list[Row], list[str]]:
    rows = bench(repeats=min(opts.repeats, 3), loop=opts.loop)
    return rows, []
