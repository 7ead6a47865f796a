"""W4: memory. 1,000,000 items through a collector; peak RSS growth, each in a fresh process.

Each variant runs in its own ``python -m benchmarks.w4 VARIANT N`` subprocess, so that what
earlier benchmarks allocated does not hide its peak. The child imports everything and builds
its driver, reads its peak RSS so far, runs once, reads it again and prints both (the peak is
``VmHWM`` on Linux; ``ru_maxrss`` is misleading there, see ``_peak_kb``).
Variants (all: a sync generator yields ``range(N)``, an async ``f(item) = item + 1``, a sum):

- asyncdag stream: ``async def total(f: CollectStream[int])`` sums with ``async for``
  (``dags/w4_stream.py``); memory should be O(window), the window being 1024 by default;
- asyncdag list: ``def total(f: Collect[int])`` (``dags/w4_list.py``) holds the list;
- plain asyncio gather: W1's ``gather`` + ``Semaphore(256)``, which holds every task;
- plain asyncio bounded: a ``TaskGroup`` fed under ``Semaphore(1024)``, summing as tasks end.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._harness import Options, Row, arun, progress

WORKLOAD = "W4"
N = 1_000_000
VARIANTS = {
    "asyncdag-stream": "asyncdag CollectStream",
    "asyncdag-list": "asyncdag Collect (list)",
    "plain-gather": "plain asyncio gather",
    "plain-bounded": "plain asyncio bounded",
}
TARGET_MB = 50


def _peak_kb() -> int:
    """Peak resident set size of this process so far, in KiB.

    Linux: ``VmHWM`` from ``/proc/self/status``. ``ru_maxrss`` is not usable there for a child
    of a big process: the child inherits the parent's peak at ``fork`` and ``exec`` keeps it,
    so after W1 (whose 1M-task ``gather`` peaks at about 1 GB) every child would report that
    gigabyte as its own. ``VmHWM`` belongs to the address space, which ``exec`` replaces.
    Elsewhere: ``ru_maxrss`` (bytes on macOS).
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def child(variant: str, n: int, loop: str) -> dict[str, float]:
    """The body run in the fresh process: build, measure the peak, run once, measure again."""
    from asyncdag import driver
    from benchmarks import w1
    from benchmarks.dags import w4_list, w4_stream

    async def main() -> dict[str, float]:
        dr = None
        if variant == "asyncdag-stream":
            dr = driver.Builder().with_modules(w4_stream).build()
        elif variant == "asyncdag-list":
            dr = driver.Builder().with_modules(w4_list).build()
        if dr is not None:  # one tiny run so that lazy imports and pools are in the baseline
            await dr.aexecute(["total"], inputs={"n": 10})
        before = _peak_kb()
        t0 = time.perf_counter()
        if dr is not None:
            result = (await dr.aexecute(["total"], inputs={"n": n}))["total"]
        elif variant == "plain-gather":
            result = await w1.plain_asyncio(n)
        elif variant == "plain-bounded":
            result = await w1.plain_bounded(n)
        else:
            raise SystemExit(f"unknown variant {variant!r}; one of {sorted(VARIANTS)}")
        seconds = time.perf_counter() - t0
        assert result == n * (n + 1) // 2, result
        return {"before_kb": before, "after_kb": _peak_kb(), "seconds": seconds}

    return arun(main, loop)


def bench(
    n: int = N, loop: str = "uvloop", variants: tuple[str, ...] = tuple(VARIANTS)
) -> list[Row]:
    rows = []
    for variant in variants:
        progress(f"W4 {VARIANTS[variant]} N={n:,} (subprocess)")
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.w4", variant, str(n), loop],
            cwd=Path(__file__).resolve().parent.parent,  # where `benchmarks` imports from
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"W4 {variant} failed:\n{proc.stderr}")
        got = json.loads(proc.stdout.strip().splitlines()[-1])
        growth = (got["after_kb"] - got["before_kb"]) / 1024
        rows.append(
            Row(
                WORKLOAD,
                f"N={n:,}",
                VARIANTS[variant],
                growth,
                "MB",
                f"peak RSS growth; {got['seconds'] / n * 1e6:.1f} us/item,"
                f" base {got['before_kb'] / 1024:.0f} MB",
            )
        )
    return rows


def targets(rows: list[Row]) -> list[str]:
    out = []
    for r in rows:
        if r.system == VARIANTS["asyncdag-stream"]:
            ok = r.value < TARGET_MB
            out.append(
                f"{'MET   ' if ok else 'MISSED'}  W4 streaming collector RSS growth < {TARGET_MB}"
                f" MB at {r.case} (is {r.value:.1f} MB)"
            )
    return out


def run(opts: Options) -> tuple[list[Row], list[str]]:
    rows = bench(loop=opts.loop)
    return rows, targets(rows)


if __name__ == "__main__":
    variant, size = sys.argv[1], int(sys.argv[2])
    print(json.dumps(child(variant, size, sys.argv[3] if len(sys.argv) > 3 else "uvloop")))
