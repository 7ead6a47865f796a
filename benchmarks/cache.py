"""CACHE: what ``with_cache()`` costs and saves.

- **W1 with a cache** (``dags/w1_asyncdag.py``, 100,000 items; and the sync ``f`` under
  ``execute()``): µs per item without a cache, on a cold cache (every node a miss: keyed,
  versioned, pickled, written), on a warm one in the same process (hits from memory), and on
  a warm one read back as a fresh process would (the process's stores dropped first: the
  index is loaded and every result read from the database). Each miss sample gets its own
  empty directory.
- **CRAWL with a cache**: the crawler example on the embedded site (2,000 pages x 20 ms at
  64, the site in a child process), a cold crawl into an empty cache, then the same crawl
  again with the process's stores dropped (what a second ``python -m examples.crawler
  --cache DIR`` does, without the interpreter's start-up). Totals checked every time. Then,
  for reference (no target), the command a user runs, ``python -m examples.crawler --cache
  DIR SITEMAP``, twice in new processes: wall time of each process, start-up included.
- **W0 with a cache** (``dags/w0_sync.py``): Hamilton's ``Builder().with_cache()`` and
  asyncdag's, warm (every node a hit), each driver run repeatedly; and asyncdag with its
  stores dropped before each run.

Targets: a warm crawl under a tenth of the cold crawl's time; a miss adds at most 30% to a W1
item; asyncdag's cached W0 ``execute`` at most half of Hamilton's cached ``execute``.
"""

from __future__ import annotations

import gc
import logging
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from asyncdag import driver
from asyncdag.caching._store import forget_stores
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
from benchmarks.crawl import _checker, start_site
from benchmarks.dags import w0_sync, w1_asyncdag, w1_asyncdag_sync
from examples.crawler.pages import CrawlLimits
from examples.crawler.runner import crawl, run_loop
from examples.crawler.site import EmbeddedSite, SiteConfig

WORKLOAD = "CACHE"
NO_CACHE = "no cache"
MISS = "cache miss (cold)"
HIT_MEMORY = "cache hit (warm, in memory)"
HIT_DISK = "cache hit (warm, read from disk)"
H_CACHED = "Hamilton with_cache (warm)"
A_CACHED = "asyncdag with_cache (warm)"
A_DISK = "asyncdag with_cache (read from disk)"
H_PLAIN = "Hamilton, no cache"
A_PLAIN = "asyncdag, no cache"
COLD = "crawl, cold cache"
WARM = "crawl, warm cache"
CLI_COLD = "new process, cold cache"
CLI_WARM = "new process, warm cache"
_ROOT = Path(__file__).resolve().parents[1]


def _forget() -> None:
    forget_stores()


class _Dirs:
    """Fresh cache directories under one temporary root, removed at the end."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="asyncdag-bench-cache-"))
        self._n = 0

    def new(self) -> Path:
        self._n += 1
        return self.root / f"c{self._n}"

    def close(self) -> None:
        _forget()
        shutil.rmtree(self.root, ignore_errors=True)


def _w1_systems(n: int, sync: bool, dirs: _Dirs, runs: int) -> list[System]:
    module = w1_asyncdag_sync if sync else w1_asyncdag
    inputs = {"n": n}
    expected = n * (n + 1) // 2

    def check(result: Any) -> None:
        assert result["total"] == expected, result

    def build(path: Path | None) -> Any:
        b = driver.Builder().with_modules(module)
        return (b.with_cache(path) if path is not None else b).build()

    def call(dr: Any) -> Any:
        if sync:
            return dr.execute(["total"], inputs=inputs)
        return dr.aexecute(["total"], inputs=inputs)

    plain = build(None)
    warm_dir = dirs.new()
    warm = build(warm_dir)
    if sync:
        warm.execute(["total"], inputs=inputs)
    else:
        new_loop().run_until_complete(warm.aexecute(["total"], inputs=inputs))
    warm.cache.flush(60)

    pending: list[Any] = []

    def cold() -> Any:  # a driver on an empty directory, made before the sample
        return call(pending.pop())

    def refill() -> None:
        while len(pending) < runs:
            pending.append(build(dirs.new()))

    disk_drivers: list[Any] = []

    def from_disk() -> Any:
        return call(disk_drivers.pop())

    def reopen() -> None:
        _forget()  # the next driver reads the directory as a new process would
        while len(disk_drivers) < runs:
            disk_drivers.append(build(warm_dir))

    return [
        System(NO_CACHE, lambda: call(plain), not sync, check, runs),
        _Prepared(MISS, cold, not sync, check, runs, prepare=refill),
        System(HIT_MEMORY, lambda: call(warm), not sync, check, runs),
        _Prepared(HIT_DISK, from_disk, not sync, check, runs, prepare=reopen),
    ]


class _Prepared(System):
    """A system whose each sample needs untimed set-up (fresh drivers)."""

    def __init__(self, *args: Any, prepare: Callable[[], None]) -> None:
        super().__init__(*args)
        self.prepare = prepare


def _measure(ev: Any, systems: list[System], repeats: int) -> dict[str, list[float]]:
    """``measure_rounds`` one system at a time per round, with each one's set-up untimed."""
    samples: dict[str, list[float]] = {s.name: [] for s in systems}
    for _ in range(repeats + 1):  # the first round warms up
        for s in systems:
            if isinstance(s, _Prepared):
                s.prepare()
            found = measure_rounds(ev, [s], repeats=1, warmup=0)
            samples[s.name].append(found[s.name][0])
    return {k: v[1:] for k, v in samples.items()}


def bench_w1(n: int = 100_000, repeats: int = 3, loop: str = "uvloop") -> list[Row]:
    ev = new_loop(loop)
    dirs = _Dirs()
    rows: list[Row] = []
    try:
        for sync in (False, True):
            label = "execute/sync f" if sync else "aexecute"
            systems = _w1_systems(n, sync, dirs, runs=1)
            progress(f"CACHE W1 {label} N={n:,}: {repeats} rounds of {len(systems)} systems")
            gc.collect()
            samples = _measure(ev, systems, repeats)
            case = f"W1 {label} N={n:,}"
            for s in systems:
                secs = samples[s.name]
                rows.append(
                    Row(WORKLOAD, case, s.name, median_of(secs) / n * 1e6, "us/item", spread(secs))
                )
    finally:
        ev.close()
        dirs.close()
    add_ratios(rows, [NO_CACHE])
    return rows


def bench_w0(repeats: int = 5, target: float = 0.2) -> list[Row]:
    from hamilton import driver as h_driver

    a_driver = driver

    dirs = _Dirs()
    inputs = {"x": 1}
    try:
        h_cached = h_driver.Builder().with_modules(w0_sync).with_cache(path=str(dirs.new())).build()
        a_dir = dirs.new()
        a_cached = a_driver.Builder().with_modules(w0_sync).with_cache(a_dir).build()
        h_plain = h_driver.Builder().with_modules(w0_sync).build()
        a_plain = a_driver.Builder().with_modules(w0_sync).build()
        for dr in (h_cached, a_cached):
            dr.execute(["c8"], inputs=inputs)
        a_cached.cache.flush(10)

        def check(result: Any) -> None:
            assert result["c8"] == 63, result

        disk: list[Any] = []

        def from_disk() -> Any:
            return disk.pop().execute(["c8"], inputs=inputs)

        def reopen() -> None:
            _forget()
            disk.append(a_driver.Builder().with_modules(w0_sync).with_cache(a_dir).build())

        systems: list[System] = []
        for name, fn in (
            (H_CACHED, lambda: h_cached.execute(["c8"], inputs=inputs)),
            (A_CACHED, lambda: a_cached.execute(["c8"], inputs=inputs)),
            (H_PLAIN, lambda: h_plain.execute(["c8"], inputs=inputs)),
            (A_PLAIN, lambda: a_plain.execute(["c8"], inputs=inputs)),
        ):
            t0 = time.perf_counter()
            for _ in range(10):
                fn()
            one = (time.perf_counter() - t0) / 10
            systems.append(System(name, fn, False, check, max(1, int(target / max(one, 1e-7)))))
        progress(f"CACHE W0: {repeats} rounds of {len(systems) + 1} systems")
        ev = new_loop()
        samples = measure_rounds(ev, systems, repeats=repeats)
        disk_samples: list[float] = []
        for _ in range(repeats * 20):
            reopen()
            t0 = time.perf_counter()
            check(from_disk())
            disk_samples.append(time.perf_counter() - t0)
        samples[A_DISK] = disk_samples
        ev.close()
    finally:
        dirs.close()
    rows = [
        Row(WORKLOAD, "W0 20-node DAG", name, median_of(secs) * 1e6, "us/run", spread(secs))
        for name, secs in samples.items()
    ]
    add_ratios(rows, [H_CACHED, H_PLAIN])
    return rows


def bench_crawl(
    pages: int = 2000, latency: float = 0.020, concurrency: int = 64, repeats: int = 3
) -> list[Row]:
    config = SiteConfig(pages=pages, latency=latency)
    check = _checker(EmbeddedSite(config).expected())
    child, sitemap = start_site(config)
    limits = CrawlLimits.for_urls(sitemap, concurrency=concurrency)
    logging.getLogger("asyncdag").setLevel(logging.ERROR)
    dirs = _Dirs()
    cold: list[float] = []
    warm: list[float] = []
    cli: dict[str, list[float]] = {CLI_COLD: [], CLI_WARM: []}
    try:
        progress(f"CACHE crawl {pages} pages x {latency * 1e3:g} ms: {repeats} cold/warm pairs")
        for _ in range(repeats):
            path = str(dirs.new())
            for samples in (cold, warm):
                _forget()  # each crawl as a new process: nothing in memory
                result = run_loop(crawl(sitemap, limits, cache=path))
                check(result.totals)
                samples.append(result.elapsed)
        progress("CACHE crawl: one cold/warm pair of `python -m examples.crawler --cache`")
        path = str(dirs.new())
        for name in (CLI_COLD, CLI_WARM):
            cli[name].append(_crawl_process(sitemap, path, concurrency))
    finally:
        dirs.close()
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=10)
    case = f"crawl {pages} pages x {latency * 1e3:g} ms @ {concurrency}"
    rows = [
        Row(WORKLOAD, case, COLD, statistics.median(cold), "s", spread(cold)),
        Row(WORKLOAD, case, WARM, statistics.median(warm), "s", spread(warm)),
    ]
    user = f"{case}, the command"
    rows += [Row(WORKLOAD, user, name, statistics.median(v), "s", "") for name, v in cli.items()]
    add_ratios(rows, [COLD, CLI_COLD])
    return rows


def _crawl_process(sitemap: str, path: str, concurrency: int) -> float:
    """Wall time of ``python -m examples.crawler --cache path sitemap`` in a new process."""
    command = [
        sys.executable,
        "-m",
        "examples.crawler",
        "--no-progress",
        "--no-polite",
        f"--concurrency={concurrency}",
        "--cache",
        path,
        sitemap,
    ]
    started = time.perf_counter()
    subprocess.run(command, cwd=_ROOT, check=True, capture_output=True, timeout=300)
    return time.perf_counter() - started


def targets(rows: list[Row]) -> list[str]:
    out = []
    by = {(r.case, r.system): r for r in rows}
    for r in rows:
        if r.system == WARM and COLD in r.ratios:
            ok = r.ratios[COLD] < 0.1
            out.append(
                f"{'MET   ' if ok else 'MISSED'}  CACHE warm crawl < 1/10 of the cold crawl"
                f" (is {r.ratios[COLD]:.3f}: {r.value:.3f} s vs {by[(r.case, COLD)].value:.2f} s)"
            )
        if r.system == MISS and NO_CACHE in r.ratios:
            ok = r.ratios[NO_CACHE] <= 1.3
            out.append(
                f"{'MET   ' if ok else 'MISSED'}  CACHE a miss adds <= 30% to a {r.case} item"
                f" (adds {(r.ratios[NO_CACHE] - 1) * 100:.0f}%)"
            )
        if r.system == A_CACHED and H_CACHED in r.ratios:
            ok = r.ratios[H_CACHED] <= 0.5
            out.append(
                f"{'MET   ' if ok else 'MISSED'}  CACHE cached W0 execute <= 1/2 of Hamilton's"
                f" (is {r.ratios[H_CACHED]:.3f})"
            )
    return out


def bench(opts: Options | None = None, *, small: bool = False) -> list[Row]:
    repeats = opts.repeats if opts is not None else 3
    if small:
        return (
            bench_w1(n=200, repeats=1)
            + bench_w0(repeats=1, target=0.001)
            + bench_crawl(pages=60, latency=0.001, repeats=1)
        )
    return (
        bench_w1(repeats=min(repeats, 3))
        + bench_crawl(repeats=min(repeats, 3))
        + bench_w0(repeats=repeats)
    )


def run(opts: Options) -> tuple[list[Row], list[str]]:
    rows = bench(opts)
    return rows, targets(rows)


if __name__ == "__main__":
    from benchmarks._harness import print_rows

    found = bench()
    print_rows("CACHE", found)
    print("\n".join(targets(found)))
