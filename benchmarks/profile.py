"""``python -m benchmarks.profile {w0,w0-execute,w1,w1-sync}``: where asyncdag's time goes.

Runs one asyncdag hot path under ``cProfile`` and prints the top functions by own time
(``tottime``) and by cumulative time. cProfile roughly doubles the cost of every Python call,
so read the shares, not the absolute figures.

- ``w0``: 3,000 ``aexecute`` runs of the 20-node async DAG (per-run overhead);
- ``w0-execute``: 3,000 ``execute`` runs of the 20-node sync DAG;
- ``w1``: one ``aexecute`` run of W1 at N = 100,000 (per-item overhead);
- ``w1-sync``: one ``execute`` run of W1 with the sync item function at N = 100,000.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys

from benchmarks._harness import new_loop
from benchmarks.dags import w0_async, w0_sync, w1_asyncdag, w1_asyncdag_sync


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    parser.add_argument("path", choices=["w0", "w0-execute", "w1", "w1-sync"])
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--runs", type=int, default=3000, help="runs for w0 (default 3000)")
    parser.add_argument("--n", type=int, default=100_000, help="items for w1 (default 100,000)")
    args = parser.parse_args(argv)

    from asyncdag import driver

    module = {"w0": w0_async, "w0-execute": w0_sync, "w1": w1_asyncdag, "w1-sync": w1_asyncdag_sync}
    dr = driver.Builder().with_modules(module[args.path]).build()
    outputs, inputs = (
        (["c8"], {"x": 1}) if args.path.startswith("w0") else (["total"], {"n": args.n})
    )
    runs = args.runs if args.path.startswith("w0") else 1
    ev = new_loop()

    async def many() -> None:
        for _ in range(runs):
            await dr.aexecute(outputs, inputs=inputs)

    def body() -> None:
        if args.path.endswith(("execute", "sync")):
            for _ in range(runs):
                dr.execute(outputs, inputs=inputs)
        else:
            ev.run_until_complete(many())

    body()  # warm-up: plans, pools, the private loop
    prof = cProfile.Profile()
    prof.enable()
    body()
    prof.disable()
    stats = pstats.Stats(prof, stream=sys.stdout).strip_dirs()
    print(f"# {args.path}: {runs} run(s); top {args.top} by own time")
    stats.sort_stats("tottime").print_stats(args.top)
    print(f"# {args.path}: top {args.top} by cumulative time")
    stats.sort_stats("cumulative").print_stats(args.top)
    dr.close()
    ev.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
