"""A live progress bar for streaming runs, built on :class:`LifecycleHooks`.

Nothing shows unless you add it::

    from asyncdag import driver
    from asyncdag.lifecycle import ProgressBar

    bar = ProgressBar("pages", total=3020)     # total: optional, see below
    dr = driver.Builder().with_modules(crawl).with_adapters(bar).build()

What it counts: *tasks* — block instances, one per item an expander yields — one line per
expander (a nested expander gets a line of its own, under its parent's):

- **done**, **failed**, **skipped**: how tasks ended. A task whose node raised is *failed*,
  also when ``on_error("deliver")`` handed the failure to the collectors; one that
  ``on_error("skip")`` left out is *skipped*.
- **retries**: attempts a ``retry`` policy started again (not tasks).
- **in flight**: tasks running now: started on their executor (each holds one of its
  ``max_tasks`` slots, which is what bounds the load on a backend) and not finished. An item
  the expander produced while every slot was taken waits outside this count. Task events
  come the moment a task starts and ends, on every executor; node events of work that ran on
  a thread or in a worker process arrive afterwards, so they could not tell what runs *now*
  (and listening to them cost the crawl benchmark about 30 us of CPU a page).
- the **rate** of finished tasks per second, smoothed over about ``rate_window`` seconds
  (the average since the start while the run is younger than that), and, when the total is
  known, the **percentage** and an **ETA** from that rate.

Where the total comes from: ``total=`` (the first expander's line, or ``expander``'s), or
the expander itself when it returns a sized iterable (a list, a range: its ``len()``). A
nested expander's total is the sum over the expansions started so far, so it is shown as a
lower bound (``≥``) and gets a percentage but no ETA.

The last frame shows how the run ended: **done**, **failed** (an error failed the run) or
**stopped** (cancelled); the bar ends full only when the run finished.

Cost: an event adds one to a counter (O(1), no I/O, no clock read); a task's start and end
also set and pop its entry in a dict of the tasks in flight. No node event is listened to.
Drawing happens on a timer of the run's event loop, at most ``refresh_per_second`` times a
second (10 by default), never per event.

Where it draws (``stream``, ``sys.stderr`` by default):

- a terminal with `rich <https://rich.readthedocs.io>`_ installed (``pip install
  asyncdag[progress]``): rich progress lines — spinner, bar (a pulse while the total is
  unknown), percentage, counts, rate, ETA, elapsed time — drawn by our timer
  (``auto_refresh=False``: no extra thread). rich was chosen over tqdm because the display
  is several counters, not one: rich lays out columns and fits them to the terminal width,
  understands ``NO_COLOR``, ``TERM=dumb`` and Jupyter, and, while the bar is live, prints
  what the program writes to stdout and stderr (log lines, warnings) above the bar instead
  of through it. rich's import costs about 80 ms, paid only when a bar is drawn.
- a terminal without rich: the same counts, redrawn in place;
- anything else (a file, a pipe, CI logs): plain lines every ``plain_every`` seconds (30
  by default; ``None``: never) and at the end — no control characters.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import Callable
from typing import IO, Any

from asyncdag.lifecycle._hooks import LifecycleHooks
from asyncdag.lifecycle._progress_draw import ProgressState, View, open_view

__all__ = ["ProgressBar", "ProgressState"]

_monotonic: Callable[[], float] = time.monotonic


class _Line:
    """One expander's counts, across the runs the bar shows."""

    __slots__ = (
        "done",
        "expander",
        "expansions",
        "failed",
        "last_finished",
        "nested",
        "rate",
        "retries",
        "running",
        "skipped",
        "total",
        "total_unknown",
        "yielded",
    )

    def __init__(self, expander: str) -> None:
        self.expander = expander
        self.yielded = self.done = self.failed = self.skipped = 0
        self.retries = self.running = 0
        self.expansions = 0  # expansions that said how long they are (or that they cannot)
        self.total = 0  # the sum of the sized expansions' lengths
        self.total_unknown = False  # an expansion of unknown size started
        self.nested = False  # some expansion of it ran inside a block
        self.rate = 0.0
        self.last_finished = 0

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.skipped


class ProgressBar(LifecycleHooks):
    """Live counts of a run's tasks, one line per expander: done, failed, skipped, retries,
    in flight, rate, and the percentage and ETA when the total is known.

    Parameters:
        description: what the items are, shown first ("pages", "rows"...).
        stream: where to draw; ``sys.stderr`` (read when a run starts) by default.
        expander: count only the items of this expander (default: every expander, nested
            ones included, each on its own line).
        total: how many items the first expander (or ``expander``) yields, when known and
            the expander does not return a sized iterable: the bar then fills and shows a
            percentage and an ETA.
        refresh_per_second: the most redraws per second on a terminal.
        plain_every: seconds between plain lines when ``stream`` is not a terminal
            (``None``: only the final lines).
        rich: use rich when it is installed and ``stream`` is a terminal (``False``: never).
        rate_window: about how many seconds of recent work the rate (and the ETA) follows.
        skipped_if: for items whose failure was delivered (``on_error("deliver")``): a
            function of the error that says the item counts as skipped, not failed (a
            crawler's off-host URL, say).

    Concurrent runs of one driver add up in one display, which starts with the first run
    and ends (with a final frame) when the last one does.
    """

    def __init__(
        self,
        description: str = "tasks",
        *,
        stream: IO[str] | None = None,
        expander: str | None = None,
        total: int | None = None,
        refresh_per_second: float = 10.0,
        plain_every: float | None = 30.0,
        rich: bool = True,
        rate_window: float = 5.0,
        skipped_if: Callable[[BaseException], bool] | None = None,
    ) -> None:
        if total is not None and (isinstance(total, bool) or not isinstance(total, int)):
            raise TypeError(f"ProgressBar: total must be an int or None, got {total!r}")
        if not rate_window > 0:
            raise ValueError(f"ProgressBar: rate_window must be > 0 seconds, got {rate_window!r}")
        self.description = description
        self.expander = expander
        self.total = total
        self.interval = 1.0 / refresh_per_second
        self.plain_every = plain_every
        self.rate_window = float(rate_window)
        self.skipped_if = skipped_if
        self._stream = stream
        self._use_rich = rich
        self._runs = 0
        self._status = "running"
        self._lines: dict[str, _Line] = {}
        # (run_id, task_id) -> the line of the task, while it is open: node events find
        # their item's line through it (bounded by the tasks in flight)
        self._open: dict[tuple[str, str], _Line] = {}
        self._started = 0.0
        self._ended: float | None = None
        self._last_tick = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._view: View | None = None

    # -- what the hooks count ------------------------------------------------------------

    def run_before_graph_execution(self, **_: Any) -> None:
        self._runs += 1
        if self._runs > 1:
            return
        self._lines = {}
        self._open = {}
        self._status = "running"
        self._started = self._last_tick = _monotonic()
        self._ended = None
        stream = self._stream if self._stream is not None else sys.stderr
        self._view = open_view(self, stream, rich=self._use_rich)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - runs start on a loop
            return
        self._timer = loop.call_later(self._view.every, self._tick)

    def _line(self, expander: str) -> _Line | None:
        line = self._lines.get(expander)
        if line is None:
            if self.expander is not None and expander != self.expander:
                return None
            line = self._lines[expander] = _Line(expander)
        return line

    def run_before_expansion(
        self, *, expander: str, index: tuple[int, ...] = (), total: int | None = None, **_: Any
    ) -> None:
        line = self._line(expander)
        if line is None:
            return
        line.expansions += 1
        if index:
            line.nested = True
        if total is None:
            line.total_unknown = True
        else:
            line.total += total

    def run_after_item_yielded(self, *, expander: str, **_: Any) -> None:
        line = self._line(expander)
        if line is not None:
            line.yielded += 1

    def run_before_task_execution(
        self, *, run_id: str, task_id: str, expander: str, **_: Any
    ) -> None:
        line = self._line(expander)
        if line is not None:
            self._open[run_id, task_id] = line
            line.running += 1

    def run_after_task_execution(
        self,
        *,
        run_id: str,
        task_id: str,
        expander: str,
        success: bool,
        outcome: str | None = None,
        error: BaseException | None = None,
        **_: Any,
    ) -> None:
        line = self._open.pop((run_id, task_id), None)
        if line is not None:
            line.running -= 1
        else:
            line = self._line(expander)
            if line is None:
                return
        if outcome is None:
            outcome = "done" if success else "failed"
        skipped_if = self.skipped_if
        if outcome == "delivered" and skipped_if is not None and error is not None:
            outcome = "skipped" if skipped_if(error) else outcome
        if outcome == "done":
            line.done += 1
        elif outcome == "skipped":
            line.skipped += 1
        else:  # "failed", "delivered" (a failure handed to the collectors)
            line.failed += 1

    def _task_line(self, run_id: str, task_id: str | None) -> _Line | None:
        # a retry in a nested block whose expander is not counted belongs to the outer item
        while task_id:
            line = self._open.get((run_id, task_id))
            if line is not None:
                return line
            task_id = task_id.rpartition("/")[0]
        return None

    def run_before_node_retry(self, *, run_id: str, task_id: str | None = None, **_: Any) -> None:
        line = self._task_line(run_id, task_id)
        if line is not None:
            line.retries += 1

    def run_after_graph_execution(
        self, *, success: bool = True, error: BaseException | None = None, **_: Any
    ) -> None:
        self._runs -= 1
        if not success:
            ended = "failed" if isinstance(error, Exception) else "stopped"
            if self._status != "failed":  # one failed run makes the display failed
                self._status = ended
        if self._runs > 0:
            return
        if self._status == "running":
            self._status = "done"
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._ended = _monotonic()
        self._open = {}
        if self._view is not None:
            self._view.close(self.state())
            self._view = None

    # -- reading -------------------------------------------------------------------------

    def state(self) -> ProgressState:
        """The counts now: every counted line added up, the lines in ``lines`` (after the
        last run ended: the final counts, whole-run average rates)."""
        end = self._ended if self._ended is not None else _monotonic()
        elapsed = max(end - self._started, 0.0) if self._started else 0.0
        lines = tuple(
            self._line_state(line, elapsed, i == 0) for i, line in enumerate(self._lines.values())
        )
        if len(lines) == 1:
            only = lines[0]
            return ProgressState(
                only.yielded, only.done, only.failed, elapsed, only.rate, only.skipped,
                only.retries, only.in_flight, only.total, only.total_is_final, only.status,
                None, lines,
            )  # fmt: skip
        total = self.total if not lines else None
        return ProgressState(
            sum(s.yielded for s in lines),
            sum(s.done for s in lines),
            sum(s.failed for s in lines),
            elapsed,
            sum(s.rate for s in lines),
            sum(s.skipped for s in lines),
            sum(s.retries for s in lines),
            sum(s.in_flight for s in lines),
            total,
            True,
            self._status,
            None,
            lines,
        )

    def _line_state(self, line: _Line, elapsed: float, first: bool) -> ProgressState:
        finished = line.finished
        if self._ended is not None or elapsed < self.rate_window or line.rate == 0.0:
            rate = finished / elapsed if elapsed > 0 else 0.0
        else:
            rate = line.rate
        target = line.expander == self.expander if self.expander is not None else first
        total: int | None = None
        final = True
        if self.total is not None and target:
            total = self.total
        elif line.expansions and not line.total_unknown:
            total, final = line.total, not line.nested
        if self._status == "done":
            total, final = finished, True  # it ended: now the total is known
        return ProgressState(
            line.yielded, line.done, line.failed, elapsed, rate, line.skipped, line.retries,
            line.running, total, final, self._status, line.expander,
        )  # fmt: skip

    # -- drawing -------------------------------------------------------------------------

    def _sample(self, now: float) -> None:
        """Move every line's rate towards its recent rate, smoothed over ``rate_window``."""
        dt = now - self._last_tick
        if dt <= 0:
            return
        weight = 1.0 - math.exp(-dt / self.rate_window)
        young = now - self._started < self.rate_window
        for line in self._lines.values():
            finished = line.finished
            recent = (finished - line.last_finished) / dt
            line.last_finished = finished
            if young or line.rate == 0.0:
                # while the run is young, the average since the start is the steadiest
                elapsed = now - self._started
                line.rate = finished / elapsed if elapsed > 0 else 0.0
            else:
                line.rate += weight * (recent - line.rate)
        self._last_tick = now

    def _tick(self) -> None:
        self._sample(_monotonic())
        view = self._view
        if view is None:
            return
        view.draw(self.state())
        self._timer = asyncio.get_running_loop().call_later(view.every, self._tick)

    def line_name(self, state: ProgressState, first: bool) -> str:
        """What a line is called: the description, then its expander for nested ones."""
        if first or state.expander is None:
            return self.description
        return f"  └ {state.expander}"
