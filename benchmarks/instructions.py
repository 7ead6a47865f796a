"""``python -m benchmarks.instructions [w1 w1-sync w0 gather] [--n 3000]``: CPU instructions per
item (per run for the W0 cases), counted by valgrind rather than timed.

Why: this VM's wall clock moves by tens of percent between identical runs, so a change of a
few percent to the per-item path cannot be seen in µs. Instructions executed are the same
from run to run (within about 0.4%) and whatever else the machine is doing.

How: each case runs twice under ``valgrind --tool=callgrind`` in a fresh interpreter, once with
1 run and once with 5 runs of the same workload; the difference of the two totals, divided by
the extra items (or runs), leaves out start-up, imports and planning. Cases:

- ``w1``: W1 ``aexecute`` (sync generator, async ``f``, ``Collect``), per item;
- ``w1-sync``: W1 ``execute`` with a sync ``f``, per item;
- ``w1-miss``, ``w1-sync-miss``: the same two with ``with_cache()`` on an empty directory
  (every node a miss: keyed, versioned, written; five drivers are built in both counts, so
  building is left out too);
- ``w1-hop-miss``, ``w1-hop-hit``: W1 with the sync ``f`` under ``aexecute`` (its all-sync
  block runs on pool threads, items several to a hop) with a cache: every item a miss, or
  (after a first run) a hit;
- ``w0``: W0 ``aexecute`` of the 20-node async DAG, per run;
- ``w0-sync``: W0 ``execute`` of the 20-node sync DAG, per run;
- ``gather``: W1's plain asyncio ``gather`` + ``Semaphore(256)``, per item (the target's
  baseline on the same measure).

Instructions are not time (a cache miss or a lock hand-off costs more than its count), and
threads are serialized under valgrind; read the figures as the cost of the Python and C code
on the path. Needs ``valgrind`` on ``PATH``; takes about a minute per case.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cold_caches(module: str, *, run_async: bool) -> str:
    """A case of W1 runs each on a driver with a cache of its own, empty: every node a miss.
    Five drivers are built in both counts, so building is left out."""
    run = (
        "async def body(r):\n"
        "    for dr in drs[:r]:\n"
        "        await dr.aexecute(['total'], inputs={'n': N})\n"
        "new_loop().run_until_complete(body(R))\n"
        if run_async
        else "for dr in drs[:R]:\n    dr.execute(['total'], inputs={'n': N})\n"
    )
    return (
        f"from benchmarks.dags import {module} as m\n"
        "import tempfile\n"
        "drs = [driver.Builder().with_modules(m).with_cache(tempfile.mkdtemp()).build()"
        " for _ in range(5)]\n" + run + "for dr in drs:\n    dr.close()\n"
    )


_CASES = {
    "w1": (
        "from benchmarks.dags import w1_asyncdag as m\n"
        "dr = driver.Builder().with_modules(m).build()\n"
        "async def body(r):\n"
        "    for _ in range(r):\n"
        "        await dr.aexecute(['total'], inputs={'n': N})\n"
        "new_loop().run_until_complete(body(R))\n"
    ),
    "w1-sync": (
        "from benchmarks.dags import w1_asyncdag_sync as m\n"
        "dr = driver.Builder().with_modules(m).build()\n"
        "for _ in range(R):\n"
        "    dr.execute(['total'], inputs={'n': N})\n"
    ),
    "w1-miss": _cold_caches("w1_asyncdag", run_async=True),
    "w1-sync-miss": _cold_caches("w1_asyncdag_sync", run_async=False),
    "w1-hop-miss": _cold_caches("w1_asyncdag_sync", run_async=True),
    "w1-hop-hit": (
        "from benchmarks.dags import w1_asyncdag_sync as m\n"
        "import tempfile\n"
        "dr = driver.Builder().with_modules(m).with_cache(tempfile.mkdtemp()).build()\n"
        "async def body(r):\n"
        "    for _ in range(r + 1):  # the first run fills the cache\n"
        "        await dr.aexecute(['total'], inputs={'n': N})\n"
        "new_loop().run_until_complete(body(R))\n"
        "dr.close()\n"
    ),
    "w0": (
        "from benchmarks.dags import w0_async as m\n"
        "dr = driver.Builder().with_modules(m).build()\n"
        "async def body(r):\n"
        "    for _ in range(r * N):\n"
        "        await dr.aexecute(['c8'], inputs={'x': 1})\n"
        "new_loop().run_until_complete(body(R))\n"
    ),
    "w0-sync": (
        "from benchmarks.dags import w0_sync as m\n"
        "dr = driver.Builder().with_modules(m).build()\n"
        "for _ in range(R * N):\n"
        "    dr.execute(['c8'], inputs={'x': 1})\n"
    ),
    "gather": (
        "from benchmarks.w1 import plain_asyncio\n"
        "async def body(r):\n"
        "    for _ in range(r):\n"
        "        await plain_asyncio(N)\n"
        "new_loop().run_until_complete(body(R))\n"
    ),
}

_PRELUDE = (
    "import sys\n"
    "N, R = int(sys.argv[1]), int(sys.argv[2])\n"
    "from benchmarks._harness import new_loop\n"
    "from asyncdag import driver\n"
)


def count(case: str, n: int, runs: int) -> int:
    """Instructions of one interpreter running ``case`` ``runs`` times at size ``n``."""
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "case.py")
        with open(script, "w") as f:
            f.write(_PRELUDE + _CASES[case])
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])),
        }
        done = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={os.path.join(tmp, 'out')}",
                sys.executable,
                script,
                str(n),
                str(runs),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"valgrind failed on {case}:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def per_unit(case: str, n: int) -> float:
    """Instructions per item (per run for the W0 cases): 5 runs minus 1 run, over the 4 extra."""
    return (count(case, n, 5) - count(case, n, 1)) / (4 * n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__)
    parser.add_argument("cases", nargs="*", help=f"any of {', '.join(_CASES)} (default: all)")
    parser.add_argument("--n", type=int, default=3000, help="items per W1 run; W0 runs per sample")
    args = parser.parse_args(argv)
    unknown = [case for case in args.cases if case not in _CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(_CASES)}")
    args.cases = args.cases or list(_CASES)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: nothing to count", file=sys.stderr)
        return 1
    figures = {}
    for case in args.cases:
        per_run = case.startswith("w0")
        n = max(1, args.n // 15) if per_run else args.n
        figures[case] = per_unit(case, n)
        unit = "run" if per_run else "item"
        print(f"{case:8} {figures[case]:>10,.0f} instructions/{unit}", flush=True)
    if "w1" in figures and "gather" in figures:
        print(f"w1 / gather: {figures['w1'] / figures['gather']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
