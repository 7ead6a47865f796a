"""W0: per-run overhead of a static 20-node DAG, what a web app pays per request.

Ten independent nodes off one input ``x``, a ``join`` of all ten and an eight-step chain
(``dags/w0_sync.py`` / ``dags/w0_async.py``); each run asks for ``c8``. Systems:

- plain: the twenty calls written out by hand (the floor);
- asyncdag ``execute`` (sync nodes, inline on its private loop);
- asyncdag ``aexecute`` (async nodes, on the loop) and ``aexecute`` with the sync nodes (each
  goes to a thread: the loop must never block);
- Hamilton ``driver.Builder().build().execute`` (sync nodes) and
  ``await async_driver.Builder().build()`` then ``await dr.execute`` (async nodes).

Async systems share one event loop. Each sample is a batch of runs in a row lasting about
0.2 s; the systems take turns, one sample each per round; the figure is the median over the
rounds of (batch time / runs).
"""

from __future__ import annotations

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
from benchmarks.dags import w0_async, w0_sync

WORKLOAD = "W0"
CASE = "20-node DAG"
OUTPUTS = ["c8"]
INPUTS = {"x": 1}
EXPECTED = 8 + sum(1 + i for i in range(10))  # c8 for x=1


def plain(x: int) -> int:
    m = w0_sync
    a = [m.a0(x), m.a1(x), m.a2(x), m.a3(x), m.a4(x), m.a5(x), m.a6(x), m.a7(x), m.a8(x), m.a9(x)]
    v = m.join(*a)
    for step in (m.c1, m.c2, m.c3, m.c4, m.c5, m.c6, m.c7, m.c8):
        v = step(v)
    return v


def _calls_for(one: float, target: float) -> int:
    return max(1, min(100_000, int(target / max(one, 1e-7))))


def _check(result: Any) -> None:
    assert result["c8"] == EXPECTED, result


def bench(repeats: int = 5, target: float = 0.2, loop: str = "uvloop") -> list[Row]:
    """All W0 systems; ``target`` is the length in seconds of one timed batch of runs."""
    from hamilton import async_driver as h_async_driver
    from hamilton import driver as h_driver

    from asyncdag import driver as a_driver

    ev = new_loop(loop)
    a_sync = a_driver.Builder().with_modules(w0_sync).build()
    a_async = a_driver.Builder().with_modules(w0_async).build()
    h_sync = h_driver.Builder().with_modules(w0_sync).build()
    h_async = ev.run_until_complete(h_async_driver.Builder().with_modules(w0_async).build())

    # (system, note, one run, is_async)
    contenders: list[tuple[str, str, Callable[[], Any], bool]] = [
        ("plain calls", "", lambda: {"c8": plain(1)}, False),
        ("asyncdag execute", "sync nodes", lambda: a_sync.execute(OUTPUTS, inputs=INPUTS), False),
        ("Hamilton Driver", "sync nodes", lambda: h_sync.execute(OUTPUTS, inputs=INPUTS), False),
        (
            "asyncdag aexecute",
            "async nodes",
            lambda: a_async.aexecute(OUTPUTS, inputs=INPUTS),
            True,
        ),
        (
            "asyncdag aexecute/sync",
            "sync nodes on threads",
            lambda: a_sync.aexecute(OUTPUTS, inputs=INPUTS),
            True,
        ),
        (
            "Hamilton AsyncDriver",
            "async nodes",
            lambda: h_async.execute(OUTPUTS, inputs=INPUTS),
            True,
        ),
    ]
    systems: list[System] = []
    calls: dict[str, int] = {}
    for name, _, fn, is_async in contenders:
        progress(f"W0 warm-up {name}")
        # Warm caches, plans and loops, then size the batch from the time of a few runs.
        probe = measure_rounds(ev, [System(name, fn, is_async, _check, runs=20)], repeats=1)
        calls[name] = _calls_for(probe[name][0], target)
        systems.append(System(name, fn, is_async, _check, runs=calls[name]))
    progress(f"W0 {repeats} rounds of {len(systems)} systems")
    samples = measure_rounds(ev, systems, repeats=repeats, warmup=0)
    ev.run_until_complete(a_async.aclose())
    ev.close()
    a_sync.close()
    rows = [
        Row(
            WORKLOAD,
            CASE,
            name,
            median_of(samples[name]) * 1e6,
            "us/run",
            "; ".join(x for x in (note, spread(samples[name])) if x),
        )
        for name, note, *_ in contenders
    ]
    add_ratios(rows, ["plain calls", "Hamilton Driver", "Hamilton AsyncDriver"])
    return rows


def targets(rows: list[Row]) -> list[str]:
    """The targets for W0, each with met / missed."""
    v = {r.system: r.value for r in rows}
    out = []
    if "asyncdag aexecute" in v and "Hamilton AsyncDriver" in v:
        ratio = v["asyncdag aexecute"] / v["Hamilton AsyncDriver"]
        out.append(
            _verdict(f"aexecute <= 0.1x AsyncDriver (is {ratio:.3f}; Python {_PY})", ratio <= 0.1)
        )
    if "asyncdag execute" in v and "Hamilton Driver" in v:
        ratio = v["asyncdag execute"] / v["Hamilton Driver"]
        out.append(_verdict(f"execute <= Hamilton Driver (is {ratio:.2f}x)", ratio <= 1.0))
    return out


_PY = ".".join(map(str, sys.version_info[:2]))  # eager node tasks on 3.12+


def _verdict(text: str, ok: bool) -> str:
    return f"{'MET   ' if ok else 'MISSED'}  W0 {text}"


def run(opts: Options) -> tuple[list[Row], list[str]]:
    rows = bench(repeats=opts.repeats, loop=opts.loop)
    return rows, targets(rows)
