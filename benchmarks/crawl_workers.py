"""``python -m benchmarks.crawl_workers``: where the CPU of a crawl on worker processes goes.

The sitemap crawl of the embedded site (its own process, as in ``benchmarks/crawl.py``) on
one event loop and on ``MultiProcessingExecutor(processes=2)``, at several numbers of pages
at once (shared out over the processes as ``--workers`` does). For each: pages/s, and the
CPU a page spent in this process (the expander, the collectors, and on processes the
dispatch) and in the worker processes (fetch, parse, and the instances' trip there and
back). The single loop's figure is everything the crawl costs, so the two columns of a
processes row against it tell what a page's trip to a worker adds.

``--pages N`` (default 4,000), ``--rounds N`` (timed runs per case after a warm-up; default
2), ``--concurrency 64,128,256``; ``--per-worker``: each process runs that many pages at once
(``MultiProcessingExecutor(processes=2, concurrency=N)``, twice the pages in flight of the
single loop's row) instead of its share of them.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time

from asyncdag.execution.executors import MultiProcessingExecutor
from benchmarks._harness import new_loop
from benchmarks.crawl import _descendants_cpu, _stop_site, start_site
from examples.crawler.runner import build_driver, executor_for
from examples.crawler.site import EmbeddedSite, SiteConfig
from examples.crawler.urls import CrawlLimits


def measure(
    pages: int, rounds: int, concurrencies: list[int], workers: int = 2, per_worker: bool = False
) -> list[str]:
    config = SiteConfig(pages=pages, latency=0.020)
    want = EmbeddedSite(config).expected()
    child, sitemap = start_site(config)
    logging.getLogger("asyncdag").setLevel(logging.ERROR)
    ev = new_loop()
    lines = [f"{'case':<24} {'pages/s':>8} {'us CPU/page here':>17} {'in workers':>11}"]
    try:
        for concurrency in concurrencies:
            limits = CrawlLimits.for_urls(sitemap, concurrency=concurrency)
            for on in (None, workers):
                executor = executor_for(limits, on)
                if on is not None and per_worker:
                    executor = MultiProcessingExecutor(processes=on, concurrency=concurrency)
                dr = build_driver(limits, executor=executor)
                rates, here, there = [], [], []
                try:
                    for i in range(rounds + 1):
                        t0, c0 = time.perf_counter(), time.process_time()
                        d0 = _descendants_cpu({child.pid}, ray=False)
                        found = ev.run_until_complete(
                            dr.aexecute(["totals"], inputs={"source": sitemap, "limits": limits})
                        )["totals"]
                        assert found.ok == want.ok and dict(found.failed) == want.failed
                        if i == 0:
                            continue  # warm-up: the processes start, the clients connect
                        rates.append(pages / (time.perf_counter() - t0))
                        here.append((time.process_time() - c0) / pages * 1e6)
                        there.append((_descendants_cpu({child.pid}, ray=False) - d0) / pages * 1e6)
                finally:
                    dr.close()
                case = f"@{concurrency} " + ("one loop" if on is None else f"{on} processes")
                if on is not None and per_worker:
                    case = f"@{concurrency} x {on} processes"
                lines.append(
                    f"{case:<24} {statistics.median(rates):>8,.0f}"
                    f" {statistics.median(here):>17,.0f} {statistics.median(there):>11,.0f}"
                )
    finally:
        ev.close()
        _stop_site(child)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.crawl_workers", description=__doc__)
    parser.add_argument("--pages", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", default="64,128,256")
    parser.add_argument("--per-worker", action="store_true")
    args = parser.parse_args(argv)
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    print("\n".join(measure(args.pages, args.rounds, concurrencies, per_worker=args.per_worker)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
