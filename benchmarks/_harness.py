"""Timing, event loops and the results table shared by every workload."""

from __future__ import annotations

import asyncio
import gc
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class Options:
    """Command-line options every workload reads."""

    slow: bool = False  # include runs that take minutes (Hamilton V2 at 10k items)
    loop: str = "uvloop"  # event loop for the async peers: "uvloop" or "asyncio"
    repeats: int = 5  # median over this many timed repeats (after one warm-up)


@dataclass
class Row:
    """One line of the results table."""

    workload: str
    case: str  # e.g. "N=1,000"; rows with the same workload and case are compared
    system: str
    value: float  # in ``unit``
    unit: str  # "us/run", "us/item", "s", "MB"
    note: str = ""
    ratios: dict[str, float] = field(default_factory=dict)  # filled by ``add_ratios``


# -- event loops ---------------------------------------------------------------------------


def new_loop(kind: str = "uvloop") -> asyncio.AbstractEventLoop:
    """A fresh event loop: uvloop (what asyncdag's ``execute()`` uses) or stock asyncio."""
    if kind == "uvloop":
        try:
            import uvloop
        except ImportError:  # pragma: no cover - uvloop is a dependency on Linux/macOS
            return asyncio.new_event_loop()
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def arun(main: Callable[[], Awaitable[T]], loop: str = "uvloop") -> T:
    """``asyncio.run`` with a choice of loop; closes the loop afterwards."""
    ev = new_loop(loop)
    try:
        return ev.run_until_complete(main())
    finally:
        ev.run_until_complete(ev.shutdown_asyncgens())
        ev.close()


# -- timing --------------------------------------------------------------------------------


def median_of(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def spread(samples: Sequence[float]) -> str:
    """How far the samples strayed from their median, e.g. "-8%..+21%" ("" for one sample)."""
    if len(samples) < 2:
        return ""
    m = statistics.median(samples)
    return f"{(min(samples) / m - 1) * 100:+.0f}%..{(max(samples) / m - 1) * 100:+.0f}%"


def time_sync(
    fn: Callable[[], T],
    *,
    repeats: int,
    warmup: int = 1,
    check: Callable[[T], object] | None = None,
) -> list[float]:
    """Wall seconds of ``fn()``, ``repeats`` times after ``warmup`` untimed calls.

    ``check`` is called on every result (outside the timed region) and should assert.
    """
    for _ in range(warmup):
        result = fn()
        if check is not None:
            check(result)
    samples = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - t0)
        if check is not None:
            check(result)
    return samples


async def time_async(
    fn: Callable[[], Awaitable[T]],
    *,
    repeats: int,
    warmup: int = 1,
    check: Callable[[T], object] | None = None,
) -> list[float]:
    """Wall seconds of ``await fn()`` on the running loop; otherwise like :func:`time_sync`."""
    for _ in range(warmup):
        result = await fn()
        if check is not None:
            check(result)
    samples = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        result = await fn()
        samples.append(time.perf_counter() - t0)
        if check is not None:
            check(result)
    return samples


@dataclass
class System:
    """One contender in an interleaved measurement."""

    name: str
    fn: Callable[[], Any]  # returns the result, or an awaitable of it when ``is_async``
    is_async: bool = False
    check: Callable[[Any], object] | None = None  # asserts on every result, untimed
    runs: int = 1  # calls per sample: a sample is the mean over this many calls in a row


def measure_rounds(
    ev: asyncio.AbstractEventLoop,
    systems: Sequence[System],
    *,
    repeats: int,
    warmup: int = 1,
) -> dict[str, list[float]]:
    """Wall seconds per call of each system, taken in rounds: one sample of each per round.

    A sample is ``runs`` calls in a row (the result of the last one is checked), divided by
    ``runs``: short calls are batched so that a sample is long enough to be timed steadily.

    This machine's speed drifts by tens of percent over minutes (a shared VM). Taking turns
    makes a slow spell hit every system alike, so ratios between systems stay meaningful even
    when absolute figures move. Async systems run on ``ev`` (between calls the loop is idle,
    so sync systems that start their own loop, like ``Driver.execute``, may run too).
    """

    def call(s: System) -> float:
        gc.collect()
        if s.is_async:

            async def timed() -> tuple[float, Any]:
                t0 = time.perf_counter()
                for _ in range(s.runs - 1):
                    await s.fn()
                result = await s.fn()
                return time.perf_counter() - t0, result

            seconds, result = ev.run_until_complete(timed())
        else:
            t0 = time.perf_counter()
            for _ in range(s.runs - 1):
                s.fn()
            result = s.fn()
            seconds = time.perf_counter() - t0
        if s.check is not None:
            s.check(result)
        return seconds / s.runs

    for _ in range(warmup):
        for s in systems:
            call(s)
    samples: dict[str, list[float]] = {s.name: [] for s in systems}
    for _ in range(repeats):
        for s in systems:
            samples[s.name].append(call(s))
    return samples


# -- the table -----------------------------------------------------------------------------


def add_ratios(rows: list[Row], peers: Sequence[str]) -> None:
    """For each row, its value divided by each listed peer's value in the same case.

    Rows whose system starts with "ideal" are references and get no ratios themselves.
    """
    by_case: dict[tuple[str, str], dict[str, float]] = {}
    for r in rows:
        by_case.setdefault((r.workload, r.case), {})[r.system] = r.value
    for r in rows:
        if r.system.startswith("ideal"):
            continue
        same = by_case[(r.workload, r.case)]
        for peer in peers:
            if peer in same and peer != r.system and same[peer] > 0:
                r.ratios[peer] = r.value / same[peer]


def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def format_table(rows: list[Row]) -> str:
    """A fixed-width table; ratio columns appear for every peer any row was compared with."""
    peers: list[str] = []
    for r in rows:
        for p in r.ratios:
            if p not in peers:
                peers.append(p)
    header = ["workload", "case", "system", "value", "unit", *(f"x {p}" for p in peers), "note"]
    body = []
    for r in rows:
        ratio_cells = [f"{r.ratios[p]:.2f}" if p in r.ratios else "" for p in peers]
        body.append([r.workload, r.case, r.system, _fmt(r.value), r.unit, *ratio_cells, r.note])
    widths = [max(len(str(c)) for c in col) for col in zip(header, *body)]
    numeric = {3, *range(5, 5 + len(peers))}

    def line(cells: Sequence[str]) -> str:
        out = []
        for i, (c, w) in enumerate(zip(cells, widths)):
            out.append(str(c).rjust(w) if i in numeric else str(c).ljust(w))
        return "  ".join(out).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), sep, *(line(b) for b in body)])


def print_rows(title: str, rows: list[Row]) -> None:
    print(f"\n## {title}\n", flush=True)
    print(format_table(rows), flush=True)


def progress(msg: str) -> None:
    """A progress line on stderr, so that stdout holds only the tables."""
    print(f"  .. {msg}", file=sys.stderr, flush=True)
