"""W3: streaming. Items must run while the generator is still producing.

An expander yields 100 items 10 ms apart; each item's work takes 10 ms. Streaming finishes
10 ms after the last item: ideal = 100 x 10 ms + 10 ms = 1.01 s. A system that drains the
generator first pays 1 s, then the items. Systems (each allows 10 items at once):

- plain asyncio: an ``async for`` over the async generator, creating a task per item as it
  arrives (``Semaphore(10)``), then ``gather``;
- asyncdag ``aexecute``, async generator and async work (``dags/w3_asyncdag.py``),
  ``AsyncioExecutor(max_tasks=10)``;
- Hamilton V2 (sync generator sleeping ``time.sleep(0.01)`` per item, ``time.sleep`` work),
  with ``MultiThreadingExecutor(max_tasks=10)`` and with its ``SynchronousLocalTaskExecutor``.
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
from benchmarks.dags import w3_asyncdag, w3_hamilton

WORKLOAD = "W3"
PLAIN = "plain asyncio"
ASYNC = "asyncdag aexecute"


async def produce(n: int, gap: float):  # the same generator as dags/w3_asyncdag.item
    for i in range(n):
        await asyncio.sleep(gap)
        yield i


async def plain_asyncio(n: int, gap: float, cost: float, concurrency: int) -> int:
    sem = asyncio.Semaphore(concurrency)

    async def work(i: int) -> int:
        async with sem:
            await asyncio.sleep(cost)
            return i

    tasks = [asyncio.ensure_future(work(i)) async for i in produce(n, gap)]
    return sum(await asyncio.gather(*tasks))


def bench(
    n: int = 100,
    gap: float = 0.01,
    cost: float = 0.01,
    concurrency: int = 10,
    repeats: int = 3,
    loop: str = "uvloop",
) -> list[Row]:
    from hamilton import driver as h_driver
    from hamilton.execution import executors as h_executors

    from asyncdag import driver as a_driver
    from asyncdag.execution import executors as a_executors

    ideal = n * gap + cost
    case = f"{n} items, {gap * 1e3:g} ms apart, {cost * 1e3:g} ms each"
    want = n * (n - 1) // 2
    inputs = {"n": n, "gap": gap, "cost": cost}
    rows: list[Row] = [Row(WORKLOAD, case, "ideal", ideal, "s")]

    def check(result: Any) -> None:
        got = result["total"] if isinstance(result, dict) else result
        assert got == want, got

    def add(system: str, samples: list[float], note: str = "") -> None:
        wall = median_of(samples)
        over = f"{(wall / ideal - 1) * 100:+.0f}% vs ideal"
        rows.append(Row(WORKLOAD, case, system, wall, "s", f"{over}; {note}" if note else over))

    dr = (
        a_driver.Builder()
        .with_modules(w3_asyncdag)
        .with_remote_executor(a_executors.AsyncioExecutor(max_tasks=concurrency))
        .build()
    )

    async def async_systems() -> None:
        progress(f"W3 {PLAIN}")
        add(
            PLAIN,
            await time_async(
                lambda: plain_asyncio(n, gap, cost, concurrency),
                repeats=repeats,
                warmup=0,
                check=check,
            ),
        )
        progress(f"W3 {ASYNC}")
        add(
            ASYNC,
            await time_async(
                lambda: dr.aexecute(["total"], inputs=inputs),
                repeats=repeats,
                warmup=0,
                check=check,
            ),
        )

    arun(async_systems, loop)
    dr.close()

    for label, remote in (
        (f"Hamilton V2 threads({concurrency})", h_executors.MultiThreadingExecutor(concurrency)),
        ("Hamilton V2 synchronous", h_executors.SynchronousLocalTaskExecutor()),
    ):
        progress(f"W3 {label}")
        h_dr = (
            h_driver.Builder()
            .with_modules(w3_hamilton)
            .enable_dynamic_execution(allow_experimental_mode=True)
            .with_remote_executor(remote)
            .build()
        )
        add(
            label,
            time_sync(
                lambda: h_dr.execute(["total"], inputs=inputs),
                repeats=repeats,
                warmup=0,
                check=check,
            ),
            "drains the generator first",
        )
    add_ratios(rows, ["ideal", PLAIN])
    return rows


def run(opts: Options) -> tuple[list[Row], list[str]]:
    rows = bench(repeats=min(opts.repeats, 3), loop=opts.loop)
    return rows, []
