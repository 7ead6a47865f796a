"""CRAWL: the crawler example against a hand-written aiohttp crawler, same site, same code.

The embedded site of ``examples/crawler`` (2,000 pages, 20 ms per page, the usual 404s,
500s, flaky 503s, redirects and one huge page; no rate limit) runs in a child process, so
that the server's work lands on the other core and is billed to neither crawler. Both
crawlers run in this process, taking turns (``measure_rounds``), at concurrency 64:

- hand-written: one ``aiohttp.ClientSession``, an ``asyncio.Semaphore(64)`` taken before
  each page's task is created while the sitemap streams in, the totals folded as tasks end;
- asyncdag: ``examples.crawler.runner.crawl`` (the ``dataflow.py`` nodes on
  ``AsyncioExecutor(max_tasks=64)``: a streaming sitemap expander, a per-worker session,
  ``retry`` and ``on_error("deliver")`` policies, the parse as a sync node on the executor's
  threads, a ``CollectAsCompleted`` collector).

- the same with ``asyncdag.lifecycle.ProgressBar`` drawing with rich (to a stream that says it
  is a terminal and drops the text), to show what the live bar costs;
- asyncdag on 2 worker processes (``--workers 2``: 32 pages each, 64 in all) and on a local
  Ray (2 async actors of 32); then each with twice the pages in flight: the single loop at
  128, 2 processes of 64 and 2 actors of 64 (128 in all), the single loop at 128 telling how
  much of their gain is the concurrency alone;
- the site's own bound: every listed page's requests and retry pauses slept by
  ``concurrency`` tasks that spend no CPU (``zero_cpu_crawl``), at 64 and 128.

The rounds reuse each driver (its processes, actors and connections): the first crawl of
each, start-up included, is reported apart ("first crawl").

They share the fetch, parse and totals functions and the retry constants
(``examples/crawler/pages.py``, ``report.py``), so the difference is the scheduling. Every
crawl's totals are checked against what the site says a correct crawl finds. Figures: pages/s
(median), and the crawler's own CPU time per page (this process only; steadier than wall time
on a busy machine).
Ideal: 2,000 / 64 x 20 ms = 0.63 s, i.e. about 3,200 pages/s, if CPU were free.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
import logging
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack, asynccontextmanager
from typing import Any

from asyncdag.execution.executors import MultiProcessingExecutor
from asyncdag.htypes import ItemFailure
from asyncdag.lifecycle import ProgressBar
from asyncdag.plugins.ray import RayExecutor
from benchmarks._harness import (
    Options,
    Row,
    System,
    add_ratios,
    measure_rounds,
    new_loop,
    progress,
    spread,
)
from examples.crawler import dataflow
from examples.crawler.client import DEFAULT_CLIENT
from examples.crawler.dataflow import Clients
from examples.crawler.pages import (
    ATTEMPTS,
    MAX_BACKOFF,
    FetchError,
    backoff_delay,
    fetch_patiently,
)
from examples.crawler.parsing import parse_page
from examples.crawler.report import CrawlTotals, is_skip
from examples.crawler.runner import build_driver, crawl, executor_for, ray_runtime
from examples.crawler.site import EmbeddedSite, Expected, SiteConfig
from examples.crawler.sitemaps import sitemap_urls
from examples.crawler.urls import CrawlLimits

WORKLOAD = "CRAWL"
HAND = "hand-written aiohttp"
ASYNC = "asyncdag crawler"
BAR = "asyncdag + ProgressBar"
WORKERS = "asyncdag --workers 2"
#: more pages in flight: one loop, and two workers of 64 each (the same 128 in all)
WIDE = "asyncdag crawler, 2x in flight"
WORKERS_WIDE = "asyncdag 2 processes x the loop's concurrency (2x in flight)"
RAY_WIDE = "asyncdag local Ray, 2 actors x the loop's concurrency (2x in flight)"
#: the site's own bound: every request, redirect and retry pause as the crawl makes them,
#: slept in a loop of ``concurrency`` tasks, no CPU spent on pages
CEILING = "bound: zero CPU a page"
SCRAPY = "Scrapy CrawlSpider"
#: Scrapy in the asyncdag crawl's order: the deepest request first
SCRAPY_DEEP = "Scrapy CrawlSpider, deepest first"
TARGET = 0.9  # asyncdag pages/s at least this times the hand-written crawler's
FOLLOW = "asyncdag crawler --follow --order depth"
FOLLOW_BREADTH = "asyncdag crawler --follow (breadth first)"
WORKERS_TARGET = 1.4  # --workers 2 at least this times the single loop's pages/s
RAY_TARGET = 1.2  # --ray local (2 CPUs) at least this times the single loop's pages/s
SCRAPY_TARGET = 3.0  # the asyncdag link-following crawl at least this times Scrapy's pages/s
#: the single loop before the crawler's rebuild (html.parser, aiohttp for pages): pages/s
#: (benchmarks/README.md then: 1,318-1,364) and crawler CPU a page; the rebuild aims at 1.5x
#: the one and half the other
BEFORE_PAGES_PER_S = 1340
BEFORE_CPU_US = 866
SINGLE_LOOP_TARGET = 1.5


async def fetch_with_retries(clients: Clients, url: str, limits: CrawlLimits) -> Any:
    """``fetch_patiently`` retried as the dataflow's ``retry(..., wait=retry_after)`` policy does:
    the same attempts, the server's Retry-After (one longer than ``MAX_BACKOFF`` gives up),
    else backoff with full jitter."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await fetch_patiently(clients.pages, url, limits, clients.robots)
        except FetchError as err:
            if not err.retryable or attempt == ATTEMPTS:
                raise
            pause = backoff_delay(attempt, err.retry_after)
            if pause > MAX_BACKOFF:
                raise
        await asyncio.sleep(pause)
    raise AssertionError("unreachable")


async def hand_written(
    source: str, limits: CrawlLimits, http_client: str = DEFAULT_CLIENT
) -> CrawlTotals:
    """The crawl as one would write it without a framework, with the dataflow's clients."""
    totals = CrawlTotals()
    async with asynccontextmanager(dataflow.clients)(limits, http_client) as clients:
        slots = asyncio.Semaphore(limits.concurrency)
        running: set[asyncio.Task[None]] = set()

        async def one(url: str, i: int) -> None:
            try:
                totals.add(parse_page(await fetch_with_retries(clients, url, limits)))
            except FetchError as err:
                totals.add(ItemFailure("page", (i,), err))
            finally:
                slots.release()

        seen: set[str] = set()
        async for raw in sitemap_urls(clients.session, source, limits):
            url = raw.partition("#")[0]
            if url in seen:
                continue
            seen.add(url)
            await slots.acquire()
            task = asyncio.create_task(one(url, len(seen) - 1))
            running.add(task)
            task.add_done_callback(running.discard)
        while running:
            await asyncio.gather(*running)
    return totals


def _descendants_cpu(skip: set[int], *, ray: bool) -> float:
    """CPU seconds of this process's live descendants except ``skip`` (the site): Ray's
    (its GCS, raylet and workers: command lines that name ray) when ``ray``, else the
    others (the worker processes of ``MultiProcessingExecutor``)."""
    import psutil

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        if child.pid in skip:
            continue
        try:
            is_ray = _is_ray(child.cmdline())
            times = child.cpu_times()
        except psutil.Error:
            continue
        if is_ray == ray:
            total += times.user + times.system
    return total


def _is_ray(cmdline: list[str]) -> bool:
    """Whether a process is one of Ray's (``raylet``, ``gcs_server``, a ``ray::`` worker, a
    script of the ray package). A worker process of ``MultiProcessingExecutor`` (started by
    multiprocessing's forkserver) is not, though its command line carries this process's
    ``sys.path``, which names Ray's directories once Ray is imported."""
    if any("multiprocessing" in part for part in cmdline):
        return False
    return any("ray" in part for part in cmdline)


async def asyncdag_crawl(source: str, limits: CrawlLimits) -> CrawlTotals:
    return (await crawl(source, limits)).totals


class _Terminal(io.StringIO):
    """Says it is a terminal, so that the progress bar draws with rich; keeps nothing."""

    def isatty(self) -> bool:
        return True

    def write(self, s: str) -> int:
        return len(s)


async def asyncdag_with_bar(source: str, limits: CrawlLimits) -> CrawlTotals:
    bar = ProgressBar("pages", stream=_Terminal(), skipped_if=is_skip)
    return (await crawl(source, limits, hooks=[bar])).totals


def start_site(config: SiteConfig) -> tuple[subprocess.Popen[str], str]:
    """The embedded site in a child process; returns it and its sitemap URL."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "examples.crawler.site",
            f"--pages={config.pages}",
            f"--seed={config.seed}",
            f"--latency={config.latency}",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    return child, child.stdout.readline().strip()


def _schedule(page: Any, latency: float, slow: float) -> list[float]:
    """The pauses one listed page costs a crawl that holds a slot for it: each request's
    latency and each retry's backoff, as the site answers and the dataflow's policy waits
    (redirects answer at once; off-origin and robots.txt-refused URLs make no request)."""
    kind = page.kind
    if kind in ("external", "private", "loop", "away"):
        return []
    if kind == "slow":
        return [slow]
    if kind == "broken":
        fails = ATTEMPTS - 1
    elif kind == "flaky":
        fails = page.fails
    else:
        return [latency]
    out: list[float] = []
    for attempt in range(1, fails + 1):
        out += [latency, backoff_delay(attempt, None)]
    return out + [latency]


async def zero_cpu_crawl(config: SiteConfig, concurrency: int) -> float:
    """Seconds a crawl of the site takes when pages cost no CPU: each listed page's pauses
    (``_schedule``) slept in sitemap order, ``concurrency`` pages at once, as the crawler
    holds a slot for a page through its retries. What no scheduler or CPU saving can beat."""
    site = EmbeddedSite(config)
    slots = asyncio.Semaphore(concurrency)
    running: list[asyncio.Task[None]] = []

    async def one(pauses: list[float]) -> None:
        try:
            for pause in pauses:
                await asyncio.sleep(pause)
        finally:
            slots.release()

    t0 = time.perf_counter()
    for page in site.pages:
        await slots.acquire()
        running.append(
            asyncio.create_task(one(_schedule(page, config.latency, config.slow_latency)))
        )
    await asyncio.gather(*running)
    return time.perf_counter() - t0


def _checker(want: Expected) -> Any:
    def check(found: CrawlTotals) -> None:
        assert found.ok == want.ok, (found.ok, want.ok)
        assert dict(found.failed) == want.failed, (found.failed, want.failed)
        assert found.words == want.words, (found.words, want.words)
        assert found.top_words() == want.top_words

    return check


def bench(
    pages: int = 2000,
    latency: float = 0.020,
    concurrency: int = 64,
    repeats: int = 5,
    loop: str = "uvloop",
    workers: int | None = 2,
    ray_cpus: int | None = None,
) -> list[Row]:
    """The sitemap crawl: hand-written, asyncdag, asyncdag + bar, asyncdag on ``workers``
    processes (``--workers``) and on a local Ray of ``ray_cpus`` CPUs (``--ray local``), all
    at ``concurrency`` pages at once in all. CPU per page counts every process of the crawl
    (this one, its worker processes, Ray's processes), never the site's."""
    config = SiteConfig(pages=pages, latency=latency)
    want = EmbeddedSite(config).expected()
    child, sitemap = start_site(config)
    limits = CrawlLimits.for_urls(sitemap, concurrency=concurrency)
    logging.getLogger("asyncdag").setLevel(logging.ERROR)  # one warning per failed page
    ray_name = f"asyncdag --ray local ({ray_cpus} CPUs)"
    wide = 2 * concurrency
    names = [HAND, ASYNC, BAR] + ([WORKERS] if workers else []) + ([ray_name] if ray_cpus else [])
    names += [WIDE] + ([WORKERS_WIDE] if workers else []) + ([RAY_WIDE] if ray_cpus else [])
    cpu: dict[str, list[float]] = {name: [] for name in names}
    walls: dict[str, list[float]] = {name: [] for name in names}  # [0]: the first crawl
    ev = new_loop(loop)
    drivers: list[Any] = []
    stack = ExitStack()

    def reused(executor: Any, on: CrawlLimits = limits) -> Any:
        """A crawl on a driver kept open across rounds (its processes started once)."""
        dr = build_driver(on, executor=executor)
        drivers.append(dr)

        async def on_it(source: str, limits: CrawlLimits) -> CrawlTotals:
            found = await dr.aexecute(["totals"], inputs={"source": source, "limits": on})
            return found["totals"]  # type: ignore[no-any-return]

        return on_it

    def timed(name: str, fn: Any, *, ray: bool = False, children: bool = False) -> Any:
        def used() -> float:
            cpu = time.process_time()
            if children:
                cpu += _descendants_cpu({child.pid}, ray=ray)
            return cpu

        async def call() -> CrawlTotals:
            t0, w0 = used(), time.perf_counter()
            found = await fn(sitemap, limits)
            cpu[name].append(used() - t0)
            walls[name].append(time.perf_counter() - w0)
            return found

        return call

    try:
        progress(f"CRAWL {pages} pages x {latency * 1e3:g} ms @ {concurrency}, {repeats} rounds")
        check = _checker(want)
        systems = [
            System(HAND, timed(HAND, hand_written), is_async=True, check=check),
            System(ASYNC, timed(ASYNC, asyncdag_crawl), is_async=True, check=check),
            System(BAR, timed(BAR, asyncdag_with_bar), is_async=True, check=check),
        ]
        if workers:
            on_workers = reused(executor_for(limits, workers))
            on_workers = timed(WORKERS, on_workers, children=True)
            systems.append(System(WORKERS, on_workers, is_async=True, check=check))
        if ray_cpus:
            stack.enter_context(ray_runtime("local", cpus=ray_cpus))
            on_ray = reused(executor_for(limits, ray=True))
            systems.append(
                System(
                    ray_name,
                    timed(ray_name, on_ray, ray=True, children=True),
                    is_async=True,
                    check=check,
                )
            )
        limits_wide = CrawlLimits.for_urls(sitemap, concurrency=wide)
        on_wide = timed(WIDE, reused(executor_for(limits_wide), limits_wide))
        systems.append(System(WIDE, on_wide, is_async=True, check=check))
        if workers:
            pool = MultiProcessingExecutor(processes=workers, concurrency=wide // workers)
            on_pool = timed(WORKERS_WIDE, reused(pool, limits_wide), children=True)
            systems.append(System(WORKERS_WIDE, on_pool, is_async=True, check=check))
        if ray_cpus:
            actors = RayExecutor(wide, actors=ray_cpus, concurrency=wide // ray_cpus)
            on_actors = timed(RAY_WIDE, reused(actors, limits_wide), ray=True, children=True)
            systems.append(System(RAY_WIDE, on_actors, is_async=True, check=check))
        samples = measure_rounds(ev, systems, repeats=repeats)
        bounds = {
            n: statistics.median(ev.run_until_complete(zero_cpu_crawl(config, n)) for _ in range(3))
            for n in (concurrency, wide)
        }
    finally:
        for dr in drivers:
            dr.close()
        stack.close()
        ev.close()
        _stop_site(child)
    case = f"{pages} pages x {latency * 1e3:g} ms @ {concurrency}"
    ideal = -(-pages // concurrency) * latency
    rows = [Row(WORKLOAD, case, "ideal", pages / ideal, "pages/s")]
    for n, wall in bounds.items():
        note = f"{wall:.2f} s: the site's latencies and retry pauses at {n} pages at once"
        rows.append(Row(WORKLOAD, case, f"{CEILING} @{n}", pages / wall, "pages/s", note))
    for name in names:
        wall = statistics.median(samples[name])
        note = f"{wall:.2f} s ({spread(samples[name])})"
        rows.append(Row(WORKLOAD, case, name, pages / wall, "pages/s", note))
    for name in names:
        cpu_us = statistics.median(cpu[name][1:]) / pages * 1e6  # [0] is the warm-up
        where = "the crawler" if name in (HAND, ASYNC, BAR, WIDE) else "all the crawl's processes"
        rows.append(Row(WORKLOAD, f"{case}, CPU", name, cpu_us, "us/page", where))
    for name in names:
        # the warm-up: a pool's processes (Ray's actors) start, every client connects; the
        # rounds above reuse them, as a long crawl does after its first seconds
        first = walls[name][0]
        rows.append(Row(WORKLOAD, f"{case}, first crawl", name, first, "s", "start-up included"))
    add_ratios(rows, [HAND, ASYNC])
    return rows


def _stop_site(child: subprocess.Popen[str]) -> None:
    assert child.stdin is not None
    child.stdin.close()
    child.wait(timeout=10)


def bench_follow(
    pages: int = 2000,
    latency: float = 0.020,
    concurrency: int = 64,
    repeats: int = 3,
    loop: str = "uvloop",
) -> list[Row]:
    """The link-following crawl from the site's root, no depth bound, at ``concurrency``:
    the asyncdag crawler with ``follow=True`` on one event loop (this process), and Scrapy's
    ``CrawlSpider`` in a subprocess of its own (``crawl_scrapy.py``), taking turns; the
    totals of each checked against ``EmbeddedSite.expected_follow``.

    Each crawls in two orders: breadth first (Scrapy as its docs advise for broad crawls)
    and the deepest URL first (asyncdag's ``--order depth``, Scrapy's ``DEPTH_PRIORITY =
    -1``). The site's deep chain (25 pages, each linking to the next) advances one page per
    level breadth first, so it is what the crawl waits for at its end; deepest first it runs
    while the rest waits. The target compares asyncdag's deepest-first crawl with Scrapy
    tuned as its docs advise (breadth first), and prints the ratio to Scrapy deepest first
    beside it."""
    import json

    config = SiteConfig(pages=pages, latency=latency)
    want = EmbeddedSite(config).expected_follow()
    child, sitemap = start_site(config)
    root = sitemap.rsplit("/", 1)[0] + "/"
    limits = CrawlLimits.for_urls(root, concurrency=concurrency)
    logging.getLogger("asyncdag").setLevel(logging.ERROR)
    systems = (FOLLOW, FOLLOW_BREADTH, SCRAPY, SCRAPY_DEEP)
    walls: dict[str, list[float]] = {name: [] for name in systems}
    cpus: dict[str, list[float]] = {name: [] for name in systems}
    ev = new_loop(loop)

    def asyncdag_follow(name: str = FOLLOW) -> None:
        order = "depth" if name == FOLLOW else "breadth"
        t0, c0 = time.perf_counter(), time.process_time()
        found = ev.run_until_complete(crawl(root, limits, follow=True, order=order)).totals
        walls[name].append(time.perf_counter() - t0)
        cpus[name].append(time.process_time() - c0)
        got = (found.urls, found.ok, dict(found.failed), dict(found.skipped), found.words)
        assert got == (want.listed, want.ok, want.failed, want.skipped, want.words), (got, want)

    def scrapy_follow(name: str = SCRAPY) -> None:
        order = "depth" if name == SCRAPY_DEEP else "breadth"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.crawl_scrapy",
                root,
                "--concurrency",
                str(concurrency),
                "--order",
                order,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        found = json.loads(done.stdout.strip().splitlines()[-1])
        got = (found["listed"], found["ok"], found["failed"], found["skipped"], found["words"])
        assert got == (want.listed, want.ok, want.failed, want.skipped, want.words), (got, want)
        walls[name].append(found["wall"])
        cpus[name].append(found["cpu"])

    try:
        progress(f"CRAWL-FOLLOW {pages} pages x {latency * 1e3:g} ms @ {concurrency}, {repeats}")
        asyncdag_follow()  # warm-up
        walls[FOLLOW].clear()
        cpus[FOLLOW].clear()
        for _ in range(repeats):
            asyncdag_follow(FOLLOW)
            scrapy_follow(SCRAPY)
            asyncdag_follow(FOLLOW_BREADTH)
            scrapy_follow(SCRAPY_DEEP)
    finally:
        ev.close()
        _stop_site(child)
    case = f"follow from / : {want.listed} URLs x {latency * 1e3:g} ms @ {concurrency}"
    rows = []
    for name in systems:
        where = "the crawler" if name in (FOLLOW, FOLLOW_BREADTH) else "Scrapy's process"
        wall = statistics.median(walls[name])
        cpu_us = statistics.median(cpus[name]) / want.listed * 1e6
        note = f"{wall:.2f} s; {cpu_us:.0f} us CPU/URL in {where}"
        rows.append(Row(WORKLOAD, case, name, want.listed / wall, "pages/s", note))
    add_ratios(rows, [SCRAPY, SCRAPY_DEEP])
    return rows


def targets(rows: list[Row]) -> list[str]:
    out = []

    def verdict(ok: bool, text: str) -> None:
        out.append(f"{'MET   ' if ok else 'MISSED'}  {text}")

    bound = {r.system: r.value for r in rows if r.system.startswith(CEILING)}
    for r in rows:
        if r.system in (ASYNC, BAR) and HAND in r.ratios and r.unit == "pages/s":
            verdict(
                r.ratios[HAND] >= TARGET,
                f"CRAWL {r.system} >= {TARGET}x the hand-written crawler's pages/s at {r.case}"
                f" (is {r.ratios[HAND]:.2f}x)",
            )
        if r.system == ASYNC and r.unit == "pages/s":
            verdict(
                r.value >= SINGLE_LOOP_TARGET * BEFORE_PAGES_PER_S,
                f"CRAWL single loop >= {SINGLE_LOOP_TARGET}x the {BEFORE_PAGES_PER_S:,} pages/s"
                f" measured before the rebuild (is {r.value:,.0f},"
                f" {r.value / BEFORE_PAGES_PER_S:.2f}x; with no CPU spent at all the site allows"
                f" {_bound_at(bound, r.case):,.0f})",
            )
        if r.system == ASYNC and r.unit == "us/page":
            verdict(
                r.value <= BEFORE_CPU_US / 2,
                f"CRAWL crawler CPU/page <= half the {BEFORE_CPU_US} us measured before the"
                f" rebuild (is {r.value:.0f} us)",
            )
        if r.unit != "pages/s":
            continue
        if r.system == WORKERS and ASYNC in r.ratios:
            verdict(
                r.ratios[ASYNC] >= WORKERS_TARGET,
                f"CRAWL {r.system} >= {WORKERS_TARGET}x the single loop's pages/s at {r.case}"
                f" (is {r.ratios[ASYNC]:.2f}x)",
            )
        if r.system in (WORKERS_WIDE, RAY_WIDE) and ASYNC in r.ratios:
            goal = WORKERS_TARGET if r.system == WORKERS_WIDE else RAY_TARGET
            verdict(
                r.ratios[ASYNC] >= goal,
                f"CRAWL {r.system} >= {goal}x the single loop's pages/s at {r.case}"
                f" (is {r.ratios[ASYNC]:.2f}x, with twice the pages in flight)",
            )
        if r.system.startswith("asyncdag --ray") and ASYNC in r.ratios:
            verdict(
                r.ratios[ASYNC] >= RAY_TARGET,
                f"CRAWL {r.system} >= {RAY_TARGET}x the single loop's pages/s at {r.case}"
                f" (is {r.ratios[ASYNC]:.2f}x)",
            )
        if r.system == FOLLOW and SCRAPY in r.ratios:
            # the target's Scrapy is tuned as its docs advise for broad crawls (breadth
            # first); the same crawl in asyncdag's order is printed beside it
            deep = r.ratios.get(SCRAPY_DEEP, float("nan"))
            verdict(
                r.ratios[SCRAPY] >= SCRAPY_TARGET,
                f"CRAWL-FOLLOW asyncdag >= {SCRAPY_TARGET}x Scrapy CrawlSpider's pages/s at"
                f" {r.case} (is {r.ratios[SCRAPY]:.2f}x Scrapy tuned for broad crawls;"
                f" {deep:.2f}x Scrapy deepest first, asyncdag's order)",
            )
    return out


def _bound_at(bound: dict[str, float], case: str) -> float:
    """The zero-CPU bound at the concurrency of ``case`` ("... @ 64")."""
    return bound.get(f"{CEILING} @{case.rsplit('@', 1)[-1].strip()}", float("nan"))


def _has_ray() -> bool:
    return importlib.util.find_spec("ray") is not None


def run(opts: Options) -> tuple[list[Row], list[str]]:
    rows = bench(repeats=opts.repeats, loop=opts.loop, ray_cpus=2 if _has_ray() else None)
    rows += bench_follow(repeats=max(1, min(3, opts.repeats)), loop=opts.loop)
    return rows, targets(rows)


if __name__ == "__main__":
    from benchmarks._harness import print_rows

    found = bench(ray_cpus=2 if _has_ray() else None) + bench_follow()
    print_rows("CRAWL", found)
    print("\n".join(targets(found)))
