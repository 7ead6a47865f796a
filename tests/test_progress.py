"""ProgressBar: counts tasks from the hooks, draws on a timer (never per event), stays off
unless added, and degrades to plain lines where the stream is not a terminal."""

from __future__ import annotations

import asyncio
import io
import re
import sys
import textwrap
import types

import anyio
import pytest

from asyncdag import driver
from asyncdag.lifecycle import ProgressBar

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


def _module() -> types.ModuleType:
    module = types.ModuleType("progress_dag")
    exec(textwrap.dedent(DAG), module.__dict__)
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


def _events(bar: ProgressBar, *, yielded: int, done: int, failed: int, expander: str = "e"):
    for i in range(yielded):
        bar.run_after_item_yielded(run_id="r", expander=expander, index=(i,))
    for i in range(done + failed):
        bar.run_after_task_execution(
            run_id="r",
            task_id=str(i),
            expander=expander,
            index=(i,),
            success=i < done,
            error=None if i < done else ValueError(i),
        )


async def test_counts_come_from_the_hooks() -> None:
    out = io.StringIO()
    bar = ProgressBar("pages", stream=out, plain_every=None)
    bar.run_before_graph_execution(run_id="r", final_vars=[], inputs={}, overrides={})
    _events(bar, yielded=10, done=6, failed=2)
    state = bar.state()
    assert (state.yielded, state.done, state.failed, state.in_flight) == (10, 6, 2, 2)
    assert state.finished == 8
    bar.run_after_graph_execution(run_id="r", success=True, error=None, results={})
    assert out.getvalue().count("\n") == 1
    line = out.getvalue()
    assert line.startswith("pages: 6 done · 2 failed · 2 in flight · 10 yielded")
    assert "\r" not in line and "\x1b" not in line


async def test_expander_filter_counts_only_that_expander() -> None:
    bar = ProgressBar(stream=io.StringIO(), expander="url", plain_every=None)
    bar.run_before_graph_execution(run_id="r", final_vars=[], inputs={}, overrides={})
    _events(bar, yielded=3, done=3, failed=0, expander="url")
    _events(bar, yielded=7, done=5, failed=2, expander="nested")
    state = bar.state()
    assert (state.yielded, state.done, state.failed) == (3, 3, 0)
    bar.run_after_graph_execution(run_id="r", success=True, error=None, results={})


async def test_a_real_run_on_a_plain_stream() -> None:
    out = io.StringIO()
    bar = ProgressBar("items", stream=out, plain_every=None)
    dr = driver.Builder().with_modules(_module()).with_adapters(bar).build()
    with anyio.fail_after(20):
        result = await dr.aexecute(["total"], inputs={"n": 50})
    assert result["total"] == 50  # failures are delivered, so every item reaches the collector
    state = bar.state()
    assert (state.yielded, state.done, state.failed, state.in_flight) == (50, 40, 10, 0)
    text = out.getvalue()
    assert text == text.strip("\n") + "\n", "one final line, nothing else"
    assert "items: 40 done · 10 failed · 0 in flight · 50 yielded" in text
    assert "\r" not in text and "\x1b" not in text
    # a second run starts from zero
    with anyio.fail_after(20):
        await dr.aexecute(["total"], inputs={"n": 5})
    assert bar.state().yielded == 5


@pytest.mark.parametrize("rich", [False, True])
async def test_a_failed_run_ends_the_display_as_stopped(rich: bool) -> None:
    from asyncdag.errors import NodeExecutionError

    term = FakeTerminal()
    bar = ProgressBar("items", stream=term, rich=rich)
    dr = driver.Builder().with_modules(_module()).with_adapters(bar).build()
    with anyio.fail_after(20), pytest.raises(NodeExecutionError):
        await dr.aexecute(["total"], inputs={"n": 50, "fail_after": 7})
    assert bar.state().yielded == 7
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", term.getvalue())
    final = re.split(r"[\r\n]", text.strip())[-1]
    assert ("stopped" in final) if rich else final.startswith("✗ items")
    assert type(sys.stdout).__name__ != "FileProxy"
    writes = term.writes
    await asyncio.sleep(0.25)
    assert term.writes == writes, "no timer left behind"


async def test_concurrent_runs_add_up_in_one_display() -> None:
    out = io.StringIO()
    bar = ProgressBar(stream=out, plain_every=None)
    dr = driver.Builder().with_modules(_module()).with_adapters(bar).build()
    with anyio.fail_after(20):
        await asyncio.gather(*(dr.aexecute(["total"], inputs={"n": 20}) for _ in range(3)))
    state = bar.state()
    assert (state.yielded, state.done, state.failed) == (60, 48, 12)
    assert out.getvalue().count("\n") == 1


async def test_draws_on_a_timer_not_per_event() -> None:
    term = FakeTerminal()
    bar = ProgressBar(stream=term, rich=False, refresh_per_second=10)
    bar.run_before_graph_execution(run_id="r", final_vars=[], inputs={}, overrides={})
    _events(bar, yielded=10_000, done=9_000, failed=10)
    assert term.writes == 0, "an event must never draw"
    await asyncio.sleep(0.35)
    # the timer is every 0.1 s; a busy machine only makes it later, never more frequent
    assert 1 <= term.writes <= 8
    bar.run_after_graph_execution(run_id="r", success=True, error=None, results={})
    text = term.getvalue()
    assert "\r" in text and text.endswith("\n")
    assert "9,000 done · 10 failed · 990 in flight · 10,000 yielded" in text.rsplit("\r", 1)[1]
    writes = term.writes
    await asyncio.sleep(0.25)
    assert term.writes == writes, "the timer stops with the last run"


async def test_rich_on_a_terminal() -> None:
    pytest.importorskip("rich")
    term = FakeTerminal()
    bar = ProgressBar("pages", stream=term)
    bar.run_before_graph_execution(run_id="r", final_vars=[], inputs={}, overrides={})
    _events(bar, yielded=12, done=10, failed=1)
    bar.run_after_graph_execution(run_id="r", success=True, error=None, results={})
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", term.getvalue())  # no colours
    final = re.split(r"[\r\n]", text.strip())[-1]
    assert final.startswith("✓ pages")
    assert "10 done · 1 failed · 1 in flight · 12 yielded" in final
    # while live, rich routes stdout and stderr above the bar; it must give them back
    assert type(sys.stdout).__name__ != "FileProxy" and type(sys.stderr).__name__ != "FileProxy"


async def test_plain_lines_every_so_often_when_asked() -> None:
    out = io.StringIO()
    bar = ProgressBar(stream=out, plain_every=0.05)
    bar.run_before_graph_execution(run_id="r", final_vars=[], inputs={}, overrides={})
    _events(bar, yielded=4, done=1, failed=0)
    await asyncio.sleep(0.2)
    bar.run_after_graph_execution(run_id="r", success=True, error=None, results={})
    lines = out.getvalue().splitlines()
    assert len(lines) >= 2
    assert lines[0].endswith("running") and lines[-1].endswith("finished")


async def test_nothing_shows_without_the_adapter(capfd: pytest.CaptureFixture[str]) -> None:
    dr = driver.Builder().with_modules(_module()).build()
    with anyio.fail_after(20):
        await dr.aexecute(["total"], inputs={"n": 20})
    captured = capfd.readouterr()
    assert "done" not in captured.err and "done" not in captured.out
