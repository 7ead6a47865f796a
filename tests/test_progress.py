"""ProgressBar: counts tasks from the hooks (outcomes apart, retries, node calls in flight),
shows a percentage and an ETA when the total is known, smooths its rate, ends with the run's
real end state, draws on a timer (never per event), stays off unless added, and degrades to
plain lines where the stream is not a terminal."""

from __future__ import annotations

import asyncio
import io
import re
import sys
import textwrap
import types
from typing import Any

import anyio
import pytest

from asyncdag import driver
from asyncdag.execution import executors
from asyncdag.lifecycle import ProgressBar, _progress_draw, progress

pytestmark = pytest.mark.anyio

DAG = """
import asyncio
from asyncdag.htypes import CollectAsCompleted, Parallelizable
from asyncdag.policies import on_error

async def item(n: int, fail_after: int = -1) -> Parallelizable[int]:
    for i in range(n):
        if i == fail_after:
            raise RuntimeError("the source broke")
        yield i

@on_error("deliver")
async def checked(item: int) -> int:
    await asyncio.sleep(0)
    if item % 5 == 0:
        raise ValueError(item)
    return item

async def total(checked: CollectAsCompleted[int]) -> int:
    found = 0
    async for value in checked:
        found += 1
    return found
"""

GATED = """
import asyncio
from asyncdag.htypes import Collect, Parallelizable

def item(n: int) -> Parallelizable[int]:
    return list(range(n))          # sized: the bar can know the total

async def held(item: int, gate: asyncio.Event, started: list) -> int:
    started.append(item)
    await gate.wait()
    return item

def total(held: Collect[int]) -> int:
    return sum(held)
"""


def _module(source: str = DAG, name: str = "progress_dag") -> types.ModuleType:
    module = types.ModuleType(name)
    exec(textwrap.dedent(source), module.__dict__)
    return module


class FakeTerminal(io.StringIO):
    """A stream that says it is a terminal, and counts its writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def isatty(self) -> bool:
        return True

    def write(self, s: str) -> int:
        self.writes += 1
        return super().write(s)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(progress, "_monotonic", fake)
    return fake


def start(bar: ProgressBar) -> None:
    bar.run_before_graph_execution(run_id="r", final_vars=[], inputs={}, overrides={})


def end(bar: ProgressBar, error: BaseException | None = None) -> None:
    bar.run_after_graph_execution(run_id="r", success=error is None, error=error, results=None)


def yield_items(bar: ProgressBar, n: int, *, expander: str = "e", first: int = 0, parent=()):
    for i in range(first, first + n):
        index = (*parent, i)
        task_id = "/".join(map(str, index))
        bar.run_after_item_yielded(run_id="r", expander=expander, index=index)
        bar.run_before_task_execution(run_id="r", task_id=task_id, expander=expander, index=index)


def finish(bar: ProgressBar, index: tuple[int, ...], outcome: str | None, expander: str = "e"):
    """A task ends; ``outcome=None`` is how the engine reports it before outcomes exist."""
    extra: dict[str, Any] = {} if outcome is None else {"outcome": outcome}
    ok = outcome in (None, "done")
    bar.run_after_task_execution(
        run_id="r",
        task_id="/".join(map(str, index)),
        expander=expander,
        index=index,
        success=ok,
        error=None if ok else ValueError(index),
        **extra,
    )


def _events(bar: ProgressBar, *, yielded: int, done: int, failed: int, expander: str = "e"):
    yield_items(bar, yielded, expander=expander)
    for i in range(done + failed):
        finish(bar, (i,), None if i < done else "failed", expander)


def plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def last_frame(term: io.StringIO, rich: bool) -> str:
    """The last frame drawn: rich draws a bar row and a counts row per line."""
    rows = re.split(r"[\r\n]", plain(term.getvalue()).strip())
    return " / ".join(rows[-2:]) if rich else rows[-1]


# -- counting ------------------------------------------------------------------------------


async def test_counts_come_from_the_hooks() -> None:
    out = io.StringIO()
    bar = ProgressBar("pages", stream=out, plain_every=None)
    start(bar)
    _events(bar, yielded=10, done=6, failed=2)
    state = bar.state()
    assert (state.yielded, state.done, state.failed, state.pending) == (10, 6, 2, 2)
    assert state.finished == 8
    end(bar)
    assert out.getvalue().count("\n") == 1
    line = out.getvalue()
    assert line.startswith("pages: 8/8 100% · 6 done · 2 failed · ")
    assert "/s · 2 unfinished · 10 yielded, " in line
    assert line.rstrip().endswith(" done")
    assert "\r" not in line and "\x1b" not in line


async def test_outcomes_are_counted_apart_and_retries_too() -> None:
    bar = ProgressBar(stream=io.StringIO(), plain_every=None)
    start(bar)
    yield_items(bar, 6)
    bar.run_before_node_retry(
        run_id="r", node_name="page", index=(1,), label="1", task_id="1",
        attempt=2, error=OSError(), delay=0.1,
    )  # fmt: skip
    for i, outcome in enumerate(["done", "done", "delivered", "skipped", "failed"]):
        finish(bar, (i,), outcome)
    state = bar.state()
    assert (state.done, state.failed, state.skipped, state.retries) == (2, 2, 1, 1)
    assert (state.finished, state.pending) == (5, 1)
    end(bar)


async def test_delivered_failures_can_count_as_skipped() -> None:
    class OffHost(Exception):
        skipped = True

    bar = ProgressBar(
        stream=io.StringIO(), plain_every=None, skipped_if=lambda e: isinstance(e, OffHost)
    )
    start(bar)
    yield_items(bar, 3)
    for i, error in enumerate([OffHost(), ValueError(), None]):
        bar.run_after_task_execution(
            run_id="r", task_id=str(i), expander="e", index=(i,), label=None,
            success=error is None, error=error,
            outcome="done" if error is None else "delivered",
        )  # fmt: skip
    state = bar.state()
    assert (state.done, state.failed, state.skipped) == (1, 1, 1)
    end(bar)


async def test_in_flight_is_tasks_running_on_their_executor() -> None:
    bar = ProgressBar(stream=io.StringIO(), plain_every=None)
    start(bar)
    yield_items(bar, 32)  # started: each holds an executor slot
    for i in range(5):
        finish(bar, (i,), "done")
    state = bar.state()
    assert (state.in_flight, state.finished) == (27, 5)
    for i in range(5, 32):
        finish(bar, (i,), "skipped")
    assert bar.state().in_flight == 0
    end(bar)


async def test_expander_filter_counts_only_that_expander() -> None:
    bar = ProgressBar(stream=io.StringIO(), expander="url", plain_every=None)
    start(bar)
    _events(bar, yielded=3, done=3, failed=0, expander="url")
    _events(bar, yielded=7, done=5, failed=2, expander="nested")
    state = bar.state()
    assert (state.yielded, state.done, state.failed) == (3, 3, 0)
    end(bar)


async def test_a_nested_retry_counts_for_the_counted_outer_item() -> None:
    bar = ProgressBar(stream=io.StringIO(), expander="outer", plain_every=None)
    start(bar)
    yield_items(bar, 2, expander="outer")
    yield_items(bar, 3, expander="inner", parent=(1,))
    bar.run_before_node_retry(
        run_id="r", node_name="page", index=(1, 2), label="2", task_id="1/2",
        attempt=2, error=OSError(), delay=0.1,
    )  # fmt: skip
    assert (bar.state().retries, bar.state().in_flight) == (1, 2)
    end(bar)


# -- totals, percentage, ETA and rate ------------------------------------------------------


async def test_total_gives_a_percentage_and_an_eta(clock: Clock) -> None:
    out = io.StringIO()
    bar = ProgressBar("pages", stream=out, total=3020, plain_every=None, rate_window=5)
    start(bar)
    yield_items(bar, 400)
    for i in range(302):
        finish(bar, (i,), "done")
    clock.now += 2.0  # young run: the rate is the average since the start
    state = bar.state()
    assert state.total == 3020 and state.percent == pytest.approx(10.0)
    assert state.rate == pytest.approx(151.0)
    assert state.eta == pytest.approx((3020 - 302) / 151.0)
    assert "302/3,020 10% ETA 0:18.0" in _progress_draw._progress(state)
    end(bar)


async def test_a_sized_expander_gives_its_own_total() -> None:
    bar = ProgressBar(stream=io.StringIO(), plain_every=None)
    start(bar)
    bar.run_before_expansion(run_id="r", expander="e", index=(), label=None, total=40)
    yield_items(bar, 10)
    assert (bar.state().total, bar.state().total_is_final) == (40, True)
    end(bar, asyncio.CancelledError())
    assert bar.state().total == 40  # stopped: the total it did not reach


async def test_an_unsized_expander_has_no_total() -> None:
    bar = ProgressBar(stream=io.StringIO(), plain_every=None)
    start(bar)
    bar.run_before_expansion(run_id="r", expander="e", index=(), label=None, total=None)
    yield_items(bar, 10)
    state = bar.state()
    assert (state.total, state.percent, state.eta) == (None, None, None)
    assert _progress_draw._progress(state) == ""
    end(bar)


async def test_nested_expansions_get_a_line_each_with_a_lower_bound() -> None:
    out = io.StringIO()
    bar = ProgressBar("sites", stream=out, plain_every=None)
    start(bar)
    bar.run_before_expansion(run_id="r", expander="site", index=(), label=None, total=2)
    yield_items(bar, 2, expander="site")
    for parent in (0, 1):
        bar.run_before_expansion(run_id="r", expander="page", index=(parent,), label=None, total=10)
        yield_items(bar, 10, expander="page", parent=(parent,))
    finish(bar, (0, 3), "done", "page")
    state = bar.state()
    site, page = state.lines
    assert (site.expander, site.total, site.total_is_final) == ("site", 2, True)
    assert (page.expander, page.total, page.total_is_final) == ("page", 20, False)
    assert page.eta is None  # more pages may come: no ETA from a lower bound
    assert "1/≥20 5%" in _progress_draw._progress(page)
    end(bar, RuntimeError("boom"))
    lines = out.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines] == ["sites", "└ page"]
    assert all(line.endswith(" failed") for line in lines)


async def test_the_rate_is_smoothed(clock: Clock) -> None:
    bar = ProgressBar(stream=io.StringIO(), plain_every=None, rate_window=5)
    start(bar)
    yield_items(bar, 100_000)
    finished = 0
    for second in range(20):  # a steady 100 tasks a second, arriving in bursts
        for tick in range(10):
            burst = 100 if tick == 0 else 0
            for i in range(finished, finished + burst):
                finish(bar, (i,), "done")
            finished += burst
            clock.now += 0.1
            bar._sample(clock.now)
    rates = []
    for _tick in range(10):  # the bursts stop: the rate falls off, without a cliff
        clock.now += 0.1
        bar._sample(clock.now)
        rates.append(bar.state().rate)
    assert 80 < rates[0] < 110
    assert all(b < a for a, b in zip(rates, rates[1:]))
    assert rates[-1] > 50  # one second of nothing is not a rate of zero
    end(bar)


# -- real runs -----------------------------------------------------------------------------


async def test_a_real_run_on_a_plain_stream() -> None:
    out = io.StringIO()
    bar = ProgressBar("items", stream=out, plain_every=None)
    dr = driver.Builder().with_modules(_module()).with_adapters(bar).build()
    with anyio.fail_after(20):
        result = await dr.aexecute(["total"], inputs={"n": 50})
    assert result["total"] == 50  # failures are delivered, so every item reaches the collector
    state = bar.state()
    assert (state.yielded, state.done, state.failed, state.pending) == (50, 40, 10, 0)
    assert (state.status, state.total, state.percent) == ("done", 50, 100.0)
    text = out.getvalue()
    assert text == text.strip("\n") + "\n", "one final line, nothing else"
    assert "items: 50/50 100% · 40 done · 10 failed · " in text
    assert "/s · 50 yielded, " in text
    assert "\r" not in text and "\x1b" not in text
    # a second run starts from zero
    with anyio.fail_after(20):
        await dr.aexecute(["total"], inputs={"n": 5})
    assert bar.state().yielded == 5


async def test_a_real_run_shows_calls_in_flight_under_max_tasks() -> None:
    bar = ProgressBar(stream=io.StringIO(), plain_every=None)
    executor = executors.AsyncioExecutor(max_tasks=3)
    dr = (
        driver.Builder()
        .with_modules(_module(GATED, "gated_progress"))
        .with_remote_executor(executor)
        .with_adapters(bar)
        .build()
    )
    gate, started = asyncio.Event(), []
    with anyio.fail_after(20):
        run = asyncio.ensure_future(
            dr.aexecute(["total"], inputs={"n": 10, "gate": gate, "started": started})
        )
        while len(started) < 3:
            await asyncio.sleep(0.01)
        state = bar.state()
        # three calls hold the executor's three slots; the other items wait to be yielded
        assert (state.in_flight, state.pending, state.yielded) == (3, 3, 3)
        gate.set()
        assert (await run)["total"] == 45
    await dr.aclose()
    assert bar.state().in_flight == 0


async def test_a_real_sized_expander_gives_the_total() -> None:
    bar = ProgressBar(stream=io.StringIO(), plain_every=None)
    dr = driver.Builder().with_modules(_module(GATED, "sized")).with_adapters(bar).build()
    gate, started = asyncio.Event(), []
    with anyio.fail_after(20):
        run = asyncio.ensure_future(
            dr.aexecute(["total"], inputs={"n": 10, "gate": gate, "started": started})
        )
        while len(started) < 10:
            await asyncio.sleep(0.01)
        assert bar.state().total == 10  # before the end, from len() of the returned list
        gate.set()
        await run


async def test_a_real_run_counts_skipped_apart() -> None:
    from tests.dags_policies import skipping

    skipping.reset()
    bar = ProgressBar(stream=io.StringIO(), plain_every=None)
    dr = driver.Builder().with_modules(skipping).with_adapters(bar).build()
    with anyio.fail_after(20):
        await dr.aexecute(["afetched"], inputs={"n": 4, "bad": 2})
    state = bar.state()
    assert (state.done, state.failed, state.skipped) == (3, 0, 1)


async def test_a_real_run_counts_retries() -> None:
    from tests.dags_policies import skipping

    skipping.reset()
    bar = ProgressBar(stream=io.StringIO(), plain_every=None)
    dr = driver.Builder().with_modules(skipping).with_adapters(bar).build()
    with anyio.fail_after(20):
        await dr.aexecute(["afetched"], inputs={"n": 4, "bad": 2})
    assert bar.state().retries == 5  # three items retried once, the bad one twice


@pytest.mark.parametrize("rich", [False, True])
async def test_a_failed_run_ends_the_display_as_failed(rich: bool) -> None:
    from asyncdag.errors import NodeExecutionError

    term = FakeTerminal()
    bar = ProgressBar("items", stream=term, rich=rich)
    dr = driver.Builder().with_modules(_module()).with_adapters(bar).build()
    with anyio.fail_after(20), pytest.raises(NodeExecutionError):
        await dr.aexecute(["total"], inputs={"n": 50, "fail_after": 7})
    assert bar.state().yielded == 7
    assert bar.state().status == "failed"
    final = last_frame(term, rich)
    assert ("items (failed)" in final) if rich else final.startswith("✗ items: failed")
    assert type(sys.stdout).__name__ != "FileProxy"
    writes = term.writes
    await asyncio.sleep(0.25)
    assert term.writes == writes, "no timer left behind"


@pytest.mark.parametrize("rich", [False, True])
async def test_a_cancelled_run_ends_the_display_as_stopped(rich: bool) -> None:
    term = FakeTerminal()
    bar = ProgressBar("items", stream=term, rich=rich)
    dr = driver.Builder().with_modules(_module(GATED, "cancelled")).with_adapters(bar).build()
    gate, started = asyncio.Event(), []
    with anyio.fail_after(20):
        run = asyncio.ensure_future(
            dr.aexecute(["total"], inputs={"n": 10, "gate": gate, "started": started})
        )
        while len(started) < 10:
            await asyncio.sleep(0.01)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
    assert bar.state().status == "stopped"
    final = last_frame(term, rich)
    assert ("items (stopped)" in final) if rich else final.startswith("■ items: stopped")
    assert "10 unfinished" in final


async def test_concurrent_runs_add_up_in_one_display() -> None:
    out = io.StringIO()
    bar = ProgressBar(stream=out, plain_every=None)
    dr = driver.Builder().with_modules(_module()).with_adapters(bar).build()
    with anyio.fail_after(20):
        await asyncio.gather(*(dr.aexecute(["total"], inputs={"n": 20}) for _ in range(3)))
    state = bar.state()
    assert (state.yielded, state.done, state.failed) == (60, 48, 12)
    assert out.getvalue().count("\n") == 1


# -- drawing -------------------------------------------------------------------------------


async def test_draws_on_a_timer_not_per_event() -> None:
    term = FakeTerminal()
    bar = ProgressBar(stream=term, rich=False, refresh_per_second=10)
    start(bar)
    _events(bar, yielded=10_000, done=9_000, failed=10)
    assert term.writes == 0, "an event must never draw"
    await asyncio.sleep(0.35)
    # the timer is every 0.1 s; a busy machine only makes it later, never more frequent
    assert 1 <= term.writes <= 8
    live = term.getvalue()
    assert "9,000 done · 10 failed · 990 in flight · " in live
    end(bar)
    text = term.getvalue()
    assert "\r" in text and text.endswith("\n")
    assert text.rsplit("\r", 1)[1].startswith("✓ tasks: ")
    writes = term.writes
    await asyncio.sleep(0.25)
    assert term.writes == writes, "the timer stops with the last run"


async def test_several_lines_are_redrawn_in_place() -> None:
    term = FakeTerminal()
    bar = ProgressBar("sites", stream=term, rich=False, refresh_per_second=20)
    start(bar)
    yield_items(bar, 2, expander="site")
    yield_items(bar, 3, expander="page", parent=(0,))
    await asyncio.sleep(0.3)
    end(bar)
    frames = term.getvalue().split("\r")[1:]
    assert len(frames) >= 2
    # every frame after the first goes back up one line before it draws its two
    assert all(f.startswith("\x1b[1F") for f in frames[1:])
    assert all(plain(f).count("\n") == 1 for f in frames[:-1])


async def test_rich_on_a_terminal() -> None:
    pytest.importorskip("rich")
    term = FakeTerminal()
    bar = ProgressBar("pages", stream=term, total=20)
    start(bar)
    _events(bar, yielded=12, done=10, failed=1)
    bar._tick()
    live = plain(term.getvalue())
    assert "11/20 55%" in live and "1 in flight" in live
    end(bar)
    final = last_frame(term, rich=True)
    assert final.startswith("✓ pages")
    assert "11/11 100%" in final  # it ended: the real total
    assert "10 done · 1 failed · " in final and "/s · 1 unfinished" in final
    # while live, rich routes stdout and stderr above the bar; it must give them back
    assert type(sys.stdout).__name__ != "FileProxy" and type(sys.stderr).__name__ != "FileProxy"


async def test_plain_lines_every_so_often_when_asked() -> None:
    out = io.StringIO()
    bar = ProgressBar(stream=out, plain_every=0.05)
    start(bar)
    _events(bar, yielded=4, done=1, failed=0)
    await asyncio.sleep(0.2)
    end(bar)
    lines = out.getvalue().splitlines()
    assert len(lines) >= 2
    assert lines[0].endswith("running") and lines[-1].endswith("done")


async def test_nothing_shows_without_the_adapter(capfd: pytest.CaptureFixture[str]) -> None:
    dr = driver.Builder().with_modules(_module()).build()
    with anyio.fail_after(20):
        await dr.aexecute(["total"], inputs={"n": 20})
    captured = capfd.readouterr()
    assert "done" not in captured.err and "done" not in captured.out


def test_bad_arguments() -> None:
    with pytest.raises(TypeError):
        ProgressBar(total=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ProgressBar(rate_window=0)
