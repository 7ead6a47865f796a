"""``python -m benchmarks [w0 ... w5 web_load crawl] [--slow] [--loop asyncio] [--repeats N]``.

Runs the chosen workloads (all by default) one after another in this process (W4 starts its
own subprocesses), prints one table per workload on stdout and, at the end, the targets each
run met or missed. Progress goes to stderr. The default run takes about three and a half minutes
on a 2-core machine; ``--slow`` adds Hamilton V2 at 10,000 items (about 2 minutes more).
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
import warnings

from benchmarks._harness import Options, print_rows

WORKLOADS = {
    "w0": "W0 per-run overhead, static 20-node DAG",
    "w1": "W1 per-item overhead, trivial async item function",
    "w2": "W2 I/O latency hiding, 1,000 x 20 ms at concurrency 50",
    "w3": "W3 streaming, items run while the generator produces",
    "w4": "W4 memory, 1,000,000 items through a collector (fresh processes)",
    "w5": "W5 executors: CPU-bound items on processes, per-item overhead everywhere",
    "web_load": "WEB the example web app under uvicorn, 2,000 requests at concurrency 100",
    "crawl": "CRAWL the crawler example vs hand-written aiohttp, 2,000 pages x 20 ms at 64",
    "cache": "CACHE with_cache(): W1 misses and hits, a warm crawl vs a cold one, W0 vs Hamilton",
}


def _revision() -> str:
    """The commit benchmarked, and whether asyncdag/ differs from it."""
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "asyncdag"],
            cwd=root,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "no git"
    return f"{head or 'no git'}{' + uncommitted asyncdag changes' if dirty else ''}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "workloads",
        nargs="*",
        metavar="WORKLOAD",
        help=f"any of {', '.join(WORKLOADS)} (default: all)",
    )
    parser.add_argument(
        "--slow", action="store_true", help="include Hamilton V2 at 10,000 items in W1 (~2 min)"
    )
    parser.add_argument(
        "--loop",
        choices=["uvloop", "asyncio"],
        default="uvloop",
        help="event loop for the async systems (default: uvloop, as execute())",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="timed repeats per figure, median reported (default: 5)",
    )
    args = parser.parse_args(argv)
    chosen = [w.lower() for w in args.workloads] or list(WORKLOADS)
    unknown = [w for w in chosen if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")
    opts = Options(slow=args.slow, loop=args.loop, repeats=args.repeats)

    warnings.filterwarnings("ignore", module="hamilton")
    import hamilton

    import asyncdag

    print(
        f"# asyncdag {asyncdag.__version__} ({_revision()}) vs apache-hamilton"
        f" {'.'.join(map(str, hamilton.version.VERSION))}"
        f" | Python {platform.python_version()} | {os.cpu_count()} CPUs | loop: {opts.loop}"
        f" | median of up to {opts.repeats} repeats"
    )
    verdicts: list[str] = []
    started = time.perf_counter()
    for name in chosen:
        module = importlib.import_module(f"benchmarks.{name}")
        t0 = time.perf_counter()
        rows, found = module.run(opts)
        print_rows(f"{WORKLOADS[name]} ({time.perf_counter() - t0:.0f} s)", rows)
        verdicts.extend(found)
    if verdicts:
        print("\n## Targets\n")
        print("\n".join(verdicts))
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
