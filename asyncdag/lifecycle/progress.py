"""A live progress bar for streaming runs, built on :class:`LifecycleHooks`.

Nothing shows unless you add it::

    from asyncdag import driver
    from asyncdag.lifecycle import ProgressBar

    dr = driver.Builder().with_modules(crawl).with_adapters(ProgressBar("pages")).build()

It counts *tasks* — block instances, one per item an expander yields: yielded, done, failed
(a task whose node raised, including items an ``on_error`` policy skipped or delivered), in
flight (yielded, not finished: running or waiting for an executor slot), and the rate of
finished tasks per second.

Cost: an event only adds one to a counter (O(1), no I/O, no clock read). Drawing happens on a
timer of the run's event loop, at most ``refresh_per_second`` times a second (10 by
default), and never per event, so a run of a million items pays a million integer additions
and a few redraws a second.

Where it draws (``stream``, ``sys.stderr`` by default):

- a terminal with `rich <https://rich.readthedocs.io>`_ installed (``pip install
  asyncdag[progress]``): a rich progress line — spinner, bar (a pulse while the total is
  unknown), counts, rate, elapsed time — drawn by our timer (``auto_refresh=False``: no
  extra thread). rich was chosen over tqdm because the display is several counters, not one:
  rich lays out columns and fits them to the terminal width, understands ``NO_COLOR``,
  ``TERM=dumb`` and Jupyter, and, while the bar is live, prints what the program writes to
  stdout and stderr (log lines, warnings) above the bar instead of through it. tqdm is one
  counter with a free-form postfix, and on a stream that is not a terminal it still writes
  carriage-return frames. rich's import costs about 80 ms, paid only when a bar is drawn.
- a terminal without rich: the same counts on one line, redrawn with ``\\r``;
- anything else (a file, a pipe, CI logs): a plain line every ``plain_every`` seconds (30
  by default; ``None``: never) and one at the end — no control characters.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass
from typing import IO, Any

from asyncdag.lifecycle._hooks import LifecycleHooks

__all__ = ["ProgressBar", "ProgressState"]


@dataclass(frozen=True)
class ProgressState:
    """The counts a :class:`ProgressBar` shows, at one moment."""

    yielded: int
    done: int
    failed: int
    elapsed: float  # seconds since the first run started
    rate: float  # finished tasks per second, recently (whole-run average once finished)

    @property
    def finished(self) -> int:
        return self.done + self.failed

    @property
    def in_flight(self) -> int:
        return self.yielded - self.done - self.failed


class ProgressBar(LifecycleHooks):
    """Live counts of a run's tasks: yielded, done, failed, in flight, rate.

    Parameters:
        description: what the items are, shown first ("pages", "rows"...).
        stream: where to draw; ``sys.stderr`` (read when a run starts) by default.
        expander: count only the items of this expander (default: every expander, nested
            ones included).
        total: how many items to expect, when known: the bar then fills and shows an ETA.
        refresh_per_second: the most redraws per second on a terminal.
        plain_every: seconds between plain lines when ``stream`` is not a terminal
            (``None``: only the final line).
        rich: use rich when it is installed and ``stream`` is a terminal (``False``: never).

    Concurrent runs of one driver add up in one display, which starts with the first run
    and ends (with a final line) when the last one does.
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
    ) -> None:
        self.description = description
        self.expander = expander
        self.total = total
        self.interval = 1.0 / refresh_per_second
        self.plain_every = plain_every
        self._stream = stream
        self._use_rich = rich
        self.yielded = 0
        self.done = 0
        self.failed = 0
        self._runs = 0
        self._all_ok = True  # no run of this display failed or was cancelled
        self._started = 0.0
        self._ended: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._view: _View | None = None
        self._rate = 0.0
        self._last_tick = 0.0
        self._last_finished = 0

    # -- what the hooks count ------------------------------------------------------------

    def run_before_graph_execution(self, **_: Any) -> None:
        self._runs += 1
        if self._runs > 1:
            return
        self.yielded = self.done = self.failed = 0
        self._started = self._last_tick = time.monotonic()
        self._ended = None
        self._all_ok = True
        self._rate = 0.0
        self._last_finished = 0
        self._view = self._open_view()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - runs start on a loop
            return
        self._timer = loop.call_later(self._view.every, self._tick)

    def run_after_item_yielded(self, *, expander: str, **_: Any) -> None:
        if self.expander is None or expander == self.expander:
            self.yielded += 1

    def run_after_task_execution(self, *, expander: str, success: bool, **_: Any) -> None:
        if self.expander is None or expander == self.expander:
            if success:
                self.done += 1
            else:
                self.failed += 1

    def run_after_graph_execution(self, *, success: bool = True, **_: Any) -> None:
        self._runs -= 1
        self._all_ok = self._all_ok and success
        if self._runs > 0:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._ended = time.monotonic()
        if self._view is not None:
            self._view.close(self.state(), self._all_ok)
            self._view = None

    # -- reading -------------------------------------------------------------------------

    def state(self) -> ProgressState:
        """The counts now (after the last run ended: the final counts, average rate)."""
        end = self._ended if self._ended is not None else time.monotonic()
        elapsed = max(end - self._started, 0.0) if self._started else 0.0
        finished = self.done + self.failed
        if self._ended is not None or self._rate == 0.0:
            rate = finished / elapsed if elapsed > 0 else 0.0
        else:
            rate = self._rate
        return ProgressState(self.yielded, self.done, self.failed, elapsed, rate)

    # -- drawing -------------------------------------------------------------------------

    def _tick(self) -> None:
        now = time.monotonic()
        finished = self.done + self.failed
        dt = now - self._last_tick
        if dt > 0:  # a rate that follows changes within a second or two, yet does not jitter
            recent = (finished - self._last_finished) / dt
            self._rate = recent if self._rate == 0.0 else 0.7 * self._rate + 0.3 * recent
        self._last_tick, self._last_finished = now, finished
        view = self._view
        if view is None:
            return
        view.draw(self.state())
        self._timer = asyncio.get_running_loop().call_later(view.every, self._tick)

    def _open_view(self) -> _View:
        stream = self._stream if self._stream is not None else sys.stderr
        tty = _is_tty(stream)
        if tty and self._use_rich:
            try:
                return _RichView(self, stream)
            except ImportError:
                pass
        if tty:
            return _LineView(self, stream)
        return _PlainView(self, stream)


def _is_tty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or odd stream
        return False


def _counts(s: ProgressState) -> str:
    return (
        f"{s.done:,} done · {s.failed:,} failed · {s.in_flight:,} in flight"
        f" · {s.yielded:,} yielded · {s.rate:,.0f}/s"
    )


class _View:
    """Where a bar draws; ``every`` is the seconds between two ``draw`` calls."""

    every: float

    def draw(self, state: ProgressState) -> None:
        raise NotImplementedError

    def close(self, state: ProgressState, ok: bool) -> None:
        """The last draw; ``ok`` is false when a run failed or was cancelled."""
        raise NotImplementedError


class _PlainView(_View):
    """Not a terminal: an occasional plain line, and one at the end."""

    def __init__(self, bar: ProgressBar, stream: IO[str]) -> None:
        self.bar, self.stream = bar, stream
        self.every = bar.plain_every if bar.plain_every is not None else 3600.0

    def _line(self, state: ProgressState, word: str) -> None:
        self.stream.write(
            f"{self.bar.description}: {_counts(state)}, {state.elapsed:.1f} s {word}\n"
        )
        self.stream.flush()

    def draw(self, state: ProgressState) -> None:
        if self.bar.plain_every is not None:
            self._line(state, "running")

    def close(self, state: ProgressState, ok: bool) -> None:
        self._line(state, "finished" if ok else "stopped")


class _LineView(_View):
    """A terminal without rich: one line, redrawn in place."""

    SPIN = "|/-\\"

    def __init__(self, bar: ProgressBar, stream: IO[str]) -> None:
        self.bar, self.stream, self.every, self.turn = bar, stream, bar.interval, 0

    def _text(self, state: ProgressState) -> str:
        total = self.bar.total
        head = f"{state.finished:,}/{total:,} " if total else ""
        return f"{self.bar.description}: {head}{_counts(state)} · {_clock(state.elapsed)}"

    def draw(self, state: ProgressState) -> None:
        self.turn += 1
        spin = self.SPIN[self.turn % len(self.SPIN)]
        self.stream.write(f"\r{spin} {self._text(state)}\x1b[K")
        self.stream.flush()

    def close(self, state: ProgressState, ok: bool) -> None:
        self.stream.write(f"\r{'✓' if ok else '✗'} {self._text(state)}\x1b[K\n")
        self.stream.flush()


class _RichView(_View):
    """A terminal with rich: a progress line with columns, drawn by our timer."""

    def __init__(self, bar: ProgressBar, stream: IO[str]) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.bar, self.every = bar, bar.interval
        self.progress = Progress(
            SpinnerColumn(finished_text="[green]✓"),
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=24),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            console=Console(file=stream),
            auto_refresh=False,  # our timer draws: no refresh thread
        )
        self.task = self.progress.add_task(bar.description, total=bar.total, counts="")
        self.progress.start()

    def _update(self, state: ProgressState) -> None:
        counts = (
            f"[green]{state.done:,}[/] done · [red]{state.failed:,}[/] failed"
            f" · {state.in_flight:,} in flight · {state.yielded:,} yielded"
            f" · [bold]{state.rate:,.0f}[/]/s"
        )
        self.progress.update(self.task, completed=state.finished, counts=counts)

    def draw(self, state: ProgressState) -> None:
        self._update(state)
        self.progress.refresh()

    def close(self, state: ProgressState, ok: bool) -> None:
        # the bar ends full: the run is over, whatever total was guessed
        self.progress.update(self.task, total=max(state.finished, 1))
        if not ok:
            self.progress.update(self.task, description=f"{self.bar.description} [red](stopped)")
        self._update(state)
        self.progress.stop()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)}:{secs:04.1f}"
