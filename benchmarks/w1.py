"""W1: per-item overhead of fan-out, with a trivial item function.

An expander yields ``range(N)`` (a sync generator), each item runs ``f(item) = item + 1`` and a
``Collect`` sums the results. Systems, per N:

- plain asyncio gather: ``asyncio.gather`` over the same coroutine, each guarded by
  ``asyncio.Semaphore(256)`` (256 = asyncdag's default ``max_tasks``): the baseline of the targets;
- plain asyncio bounded: a ``TaskGroup`` fed under ``Semaphore(1024)`` (asyncdag's default
  window), summing as tasks end. It never holds N tasks, so it escapes the garbage collector
  passes that make ``gather`` superlinear; the stricter floor;
- asyncdag ``aexecute`` with the async ``f`` (``dags/w1_asyncdag.py``), default executor;
- asyncdag ``execute`` with a sync ``f`` (``dags/w1_asyncdag_sync.py``): with the default
  executors ``execute()`` runs sync blocks inline on its private loop (the generator is still
  advanced on its own thread); run up to N = 100,000;
- Hamilton V2 dynamic execution, sync ``f``, its default executors (local synchronous, remote
  ``MultiThreadingExecutor(max_tasks=10)``). Its scheduler is quadratic in N, so it runs only
  at N = 1,000 by default, and also at 10,000 with ``--slow`` (about 2 minutes more).

The figure is µs per item: the median over samples of (wall time of a run / N), where below
N = 20,000 a sample is several runs in a row (about 20,000 items in all). The systems take
turns, one sample each per round; the note gives the samples' spread around the median.
Constant µs/item across N means the cost is linear in N.
"""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Callable
from typing import Any

from benchmarks._harness import (
    Options,
    Row,
    System,
    add_ratios,
    measure_rounds,
    median_of,
    new_loop,
    progress,
    spread,
)
from benchmarks.dags import w1_asyncdag, w1_asyncdag_sync, w1_hamilton

WORKLOAD = "W1"
SIZES = (1_000, 10_000, 100_000, 1_000_000)
SEMAPHORE = 256
WINDOW = 1024
PLAIN = "plain asyncio gather"
BOUNDED = "plain asyncio bounded"
ASYNC = "asyncdag aexecute"
SYNC = "asyncdag execute/sync f"
HAMILTON = "Hamilton V2"
ORDER = (PLAIN, BOUNDED, ASYNC, SYNC, HAMILTON)
# The sync-f path pays a thread hop per item; past this size it only repeats what it showed.
SYNC_MAX_N = 100_000
# Hamilton V2 above this size is run once, alone (it takes minutes), not in the rounds.
HAMILTON_ROUNDS_MAX_N = 1_000


def expected(n: int) -> int:
    return n * (n + 1) // 2


async def f(item: int) -> int:
    return item + 1


async def plain_asyncio(n: int, limit: int = SEMAPHORE) -> int:
    sem = asyncio.Semaphore(limit)

    async def guarded(i: int) -> int:
        async with sem:
            return await f(i)

    return sum(await asyncio.gather(*(guarded(i) for i in range(n))))


async def plain_bounded(n: int, limit: int = WINDOW) -> int:
    sem = asyncio.Semaphore(limit)
    total = 0

    async def one(i: int) -> None:
        nonlocal total
        try:
            total += await f(i)
        finally:
            sem.release()

    async with asyncio.TaskGroup() as tg:
        for i in range(n):
            await sem.acquire()
            tg.create_task(one(i))
    return total


def _runs_per_sample(n: int, items_per_sample: int) -> int:
    """Runs in a row per sample, so that a small-N sample is not a blip."""
    return max(1, items_per_sample // n)


def _schedule(n: int, repeats: int) -> tuple[int, int]:
    """(timed repeats, warm-ups) for size n: fewer of both for the big sizes."""
    if n >= 1_000_000:
        return 1, 0
    if n >= 100_000:
        return min(repeats, 3), 0
    return repeats, 1


def case(n: int) -> str:
    return f"N={n:,}"


def _checker(n: int, key: str | None = "total") -> Callable[[Any], None]:
    def check(result: Any) -> None:
        got = result[key] if key else result
        assert got == expected(n), (n, got)

    return check


def bench(
    sizes: tuple[int, ...] = SIZES,
    repeats: int = 5,
    loop: str = "uvloop",
    hamilton_sizes: tuple[int, ...] = (1_000,),
    sync_max_n: int = SYNC_MAX_N,
    items_per_sample: int = 20_000,
) -> list[Row]:
    """All W1 systems at each size; at each size the systems take turns, one run per round."""
    from hamilton import driver as h_driver

    from asyncdag import driver as a_driver

    ev = new_loop(loop)
    a_async = a_driver.Builder().with_modules(w1_asyncdag).build()
    a_sync = a_driver.Builder().with_modules(w1_asyncdag_sync).build()
    h_dr = (
        h_driver.Builder()
        .with_modules(w1_hamilton)
        .enable_dynamic_execution(allow_experimental_mode=True)
        .build()
    )
    rows: list[Row] = []
    # Everything imported and built so far lives for the whole run: move it out of the garbage
    # collector's sight, so that full collections during a big run traverse only what the run
    # allocates, as in a fresh process. Every system benefits alike.
    gc.collect()
    gc.freeze()
    notes = {SYNC: "sync blocks inline in execute()", HAMILTON: "default executors; quadratic"}
    for n in sizes:
        inputs = {"n": n}
        # gather runs last in each round: the heap it leaves behind (N live tasks) slows
        # whatever runs next in this process, so it must not precede the others.
        systems = [
            System(BOUNDED, lambda: plain_bounded(n), True, _checker(n, None)),
            System(ASYNC, lambda: a_async.aexecute(["total"], inputs=inputs), True, _checker(n)),
        ]
        if n <= sync_max_n:
            systems.append(
                System(SYNC, lambda: a_sync.execute(["total"], inputs=inputs), False, _checker(n))
            )
        if n in hamilton_sizes and n <= HAMILTON_ROUNDS_MAX_N:
            systems.append(
                System(HAMILTON, lambda: h_dr.execute(["total"], inputs=inputs), False, _checker(n))
            )
        systems.append(System(PLAIN, lambda: plain_asyncio(n), True, _checker(n, None)))
        for system in systems:
            if system.name != HAMILTON:
                system.runs = _runs_per_sample(n, items_per_sample)
        reps, warm = _schedule(n, repeats)
        progress(f"W1 N={n:,}: {reps} round(s) of {len(systems)} systems")
        samples = measure_rounds(ev, systems, repeats=reps, warmup=warm)
        if n in hamilton_sizes and n > HAMILTON_ROUNDS_MAX_N:
            progress(f"W1 {HAMILTON} N={n:,}: one run (minutes)")
            samples[HAMILTON] = measure_rounds(
                ev,
                [
                    System(
                        HAMILTON, lambda: h_dr.execute(["total"], inputs=inputs), False, _checker(n)
                    )
                ],
                repeats=1,
                warmup=0,
            )[HAMILTON]
        for system, secs in samples.items():
            rows.append(
                Row(
                    WORKLOAD,
                    case(n),
                    system,
                    median_of(secs) / n * 1e6,
                    "us/item",
                    "; ".join(x for x in (notes.get(system, ""), spread(secs)) if x),
                )
            )
    gc.unfreeze()
    a_async.close()
    a_sync.close()
    ev.close()
    rows.sort(key=lambda r: (int(r.case[2:].replace(",", "")), ORDER.index(r.system)))
    add_ratios(rows, [PLAIN, BOUNDED])
    return rows


def linearity(rows: list[Row]) -> list[str]:
    """For each system, µs/item at the largest N over µs/item at the smallest N."""
    out = []
    for system in ORDER:
        mine = [r for r in rows if r.system == system]
        if len(mine) < 2:
            continue
        lo, hi = mine[0], mine[-1]
        out.append(
            f"        W1 linearity, {system}: {hi.value:.2f} us/item at {hi.case}"
            f" vs {lo.value:.2f} at {lo.case} ({hi.value / lo.value:.2f}x)"
        )
    return out


def targets(rows: list[Row]) -> list[str]:
    """W1 aexecute at most 1.0x gather + Semaphore where the target applies (1,000 and 10,000
    items); the other sizes are shown against the same bar."""
    out = []
    py = ".".join(map(str, sys.version_info[:2]))  # eager node tasks on 3.12+
    for r in rows:
        if r.system == ASYNC and PLAIN in r.ratios:
            ok = r.ratios[PLAIN] <= 1.0
            out.append(
                f"{'MET   ' if ok else 'MISSED'}  W1 aexecute <= 1.0x plain asyncio gather at"
                f" {r.case} (is {r.ratios[PLAIN]:.2f}x; {r.ratios.get(BOUNDED, 0):.2f}x the"
                f" bounded loop; Python {py})"
            )
    return out + linearity(rows)


def run(opts: Options) -> tuple[list[Row], list[str]]:
    hamilton_sizes = (1_000, 10_000) if opts.slow else (1_000,)
    rows = bench(repeats=opts.repeats, loop=opts.loop, hamilton_sizes=hamilton_sizes)
    return rows, targets(rows)
