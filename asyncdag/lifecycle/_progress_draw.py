"""How a :class:`~asyncdag.lifecycle.ProgressBar` draws: the state it shows, and the three
places it draws to (rich on a terminal, a redrawn line on a terminal without rich, plain lines
elsewhere). Drawing knows the bar only through :class:`DrawnBar`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

__all__ = ["DrawnBar", "ProgressState", "View", "open_view"]


@dataclass(frozen=True)
class ProgressState:
    """The counts a :class:`ProgressBar` shows, at one moment: of one expander's line, or
    (``ProgressBar.state()``) of every counted line added up, with the lines in ``lines``."""

    yielded: int
    done: int
    failed: int
    elapsed: float  # seconds since the first run started
    rate: float  # finished tasks per second, smoothed (whole-run average once ended)
    skipped: int = 0
    retries: int = 0
    in_flight: int = 0  # tasks running now (started on their executor, not finished)
    total: int | None = None  # tasks expected, when known
    total_is_final: bool = True  # False: a lower bound (a nested expander's, so far)
    status: str = "running"  # "running", then "done", "failed" or "stopped"
    expander: str | None = None  # the line's expander (None: the sum of the lines)
    lines: tuple[ProgressState, ...] = field(default=(), repr=False)

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.skipped

    @property
    def pending(self) -> int:
        """Tasks yielded and not finished: running, or waiting for a slot."""
        return max(self.yielded - self.finished, 0)

    @property
    def percent(self) -> float | None:
        """How much of the known total has finished, 0 to 100."""
        if not self.total:
            return None
        return min(100.0, 100.0 * self.finished / self.total)

    @property
    def eta(self) -> float | None:
        """Seconds until the total is reached at the current rate (a final total only)."""
        if self.total is None or not self.total_is_final or self.status != "running":
            return None
        left = self.total - self.finished
        if left <= 0:
            return 0.0
        return left / self.rate if self.rate > 0 else None


class DrawnBar(Protocol):
    """What a view reads of its bar."""

    description: str
    interval: float  # seconds between redraws on a terminal
    plain_every: float | None  # seconds between plain lines (None: only at the end)

    def line_name(self, state: ProgressState, first: bool) -> str: ...


def open_view(bar: DrawnBar, stream: IO[str], *, rich: bool) -> View:
    """The view for ``stream``: rich on a terminal when installed (and ``rich``), a redrawn
    line on another terminal, plain lines anywhere else."""
    tty = _is_tty(stream)
    if tty and rich:
        try:
            return _RichView(bar, stream)
        except ImportError:
            pass
    if tty:
        return _LineView(bar, stream)
    return _PlainView(bar, stream)


def _is_tty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or odd stream
        return False


def _width(stream: IO[str]) -> int:
    """The terminal's width in columns (80 when the stream cannot say)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, OSError, ValueError):
        return 80


def _shown_lines(state: ProgressState) -> tuple[ProgressState, ...]:
    return state.lines or (state,)


def _counts(s: ProgressState, *, yielded: bool = True) -> str:
    """The counts, most telling first: a line cut to the terminal's width loses the last."""
    parts = [f"{s.done:,} done", f"{s.failed:,} failed"]
    if s.skipped:
        parts.append(f"{s.skipped:,} skipped")
    if s.retries:
        parts.append(f"{s.retries:,} retries")
    if s.status == "running":
        parts.append(f"{s.in_flight:,} in flight")
    parts.append(f"{s.rate:,.0f}/s")
    if s.status != "running" and s.pending:
        parts.append(f"{s.pending:,} unfinished")
    if yielded:
        parts.append(f"{s.yielded:,} yielded")
    return " · ".join(parts)


def _progress(s: ProgressState) -> str:
    """``1,234/3,020 41% ETA 0:12`` when the total is known, else ``""``."""
    if s.total is None:
        return ""
    bound = "" if s.total_is_final else "≥"
    text = f"{s.finished:,}/{bound}{s.total:,}"
    if s.percent is not None:
        text += f" {s.percent:.0f}%"
    eta = s.eta
    if eta is not None:
        text += f" ETA {_clock(eta)}"
    return text


class View:
    """Where a bar draws; ``every`` is the seconds between two ``draw`` calls."""

    every: float

    def draw(self, state: ProgressState) -> None:
        raise NotImplementedError

    def close(self, state: ProgressState) -> None:
        """The last draw, showing ``state.status``."""
        raise NotImplementedError


class _PlainView(View):
    """Not a terminal: occasional plain lines, and the final ones."""

    def __init__(self, bar: DrawnBar, stream: IO[str]) -> None:
        self.bar, self.stream = bar, stream
        self.every = bar.plain_every if bar.plain_every is not None else 3600.0

    def _write(self, state: ProgressState) -> None:
        text = ""
        for i, line in enumerate(_shown_lines(state)):
            name = self.bar.line_name(line, i == 0).strip()
            head = _progress(line)
            head = f"{head} · " if head else ""
            text += f"{name}: {head}{_counts(line)}, {state.elapsed:.1f} s {state.status}\n"
        self.stream.write(text)
        self.stream.flush()

    def draw(self, state: ProgressState) -> None:
        if self.bar.plain_every is not None:
            self._write(state)

    def close(self, state: ProgressState) -> None:
        self._write(state)


_MARK = {"done": "✓", "failed": "✗", "stopped": "■"}


class _LineView(View):
    """A terminal without rich: one line per expander, redrawn in place, cut to the
    terminal's width (a line that wrapped could not be redrawn)."""

    SPIN = "|/-\\"

    def __init__(self, bar: DrawnBar, stream: IO[str]) -> None:
        self.bar, self.stream, self.every, self.turn = bar, stream, bar.interval, 0
        self.width = _width(stream) - 1
        self.drawn = 0  # lines on screen

    def _frame(self, state: ProgressState, mark: str) -> None:
        texts = []
        for i, line in enumerate(_shown_lines(state)):
            head = _progress(line)
            fields = [f for f in (head, _clock(state.elapsed), _counts(line, yielded=False)) if f]
            if state.status != "running":
                fields.insert(0, state.status)
            name = self.bar.line_name(line, i == 0)
            text = f"{mark if i == 0 else ' '} {name}: {' · '.join(fields)}"
            if len(text) > self.width:
                text = text[: self.width - 1] + "…"
            texts.append(text + "\x1b[K")
        up = f"\x1b[{self.drawn - 1}F" if self.drawn > 1 else ""
        self.stream.write("\r" + up + "\n".join(texts))
        self.drawn = len(texts)

    def draw(self, state: ProgressState) -> None:
        self.turn += 1
        self._frame(state, self.SPIN[self.turn % len(self.SPIN)])
        self.stream.flush()

    def close(self, state: ProgressState) -> None:
        self._frame(state, _MARK.get(state.status, "✗"))
        self.stream.write("\n")
        self.stream.flush()


class _RichView(View):
    """A terminal with rich: two rows per expander (the bar, then the counts), drawn by our
    timer; rows too long for the terminal end in an ellipsis."""

    def __init__(self, bar: DrawnBar, stream: IO[str]) -> None:
        from rich.console import Console, RenderableType
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn
        from rich.text import Text

        class TwoRows(Progress):
            def get_renderables(self) -> Iterator[RenderableType]:
                for task in self.tasks:
                    yield self.make_tasks_table([task])
                    counts = Text.from_markup(task.fields["counts"])
                    counts.no_wrap, counts.overflow = True, "ellipsis"
                    yield counts

        self.bar, self.every = bar, bar.interval
        self.progress = TwoRows(
            SpinnerColumn(finished_text="[green]✓"),
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=24),
            TextColumn("{task.fields[head]}"),
            console=Console(file=stream),
            auto_refresh=False,  # our timer draws: no refresh thread
        )
        self.tasks: list[Any] = []
        self.progress.start()

    def _update(self, state: ProgressState) -> None:
        for i, line in enumerate(_shown_lines(state)):
            name = self.bar.line_name(line, i == 0)
            if i == len(self.tasks):
                self.tasks.append(self.progress.add_task(name, total=None, head="", counts=""))
            if state.status not in ("running", "done"):
                style = "red" if state.status == "failed" else "yellow"
                name += f" [{style}]({state.status})"
            head = " · ".join(f for f in (_progress(line), _clock(state.elapsed)) if f)
            counts = (
                f"  [green]{line.done:,}[/] done · [red]{line.failed:,}[/] failed"
                + (f" · [yellow]{line.skipped:,}[/] skipped" if line.skipped else "")
                + (f" · {line.retries:,} retries" if line.retries else "")
                + (f" · {line.in_flight:,} in flight" if state.status == "running" else "")
                + f" · [bold]{line.rate:,.0f}[/]/s"
                + (
                    f" · {line.pending:,} unfinished"
                    if state.status != "running" and line.pending
                    else ""
                )
            )
            self.progress.update(
                self.tasks[i],
                description=name,
                total=line.total,
                completed=line.finished,
                head=head,
                counts=counts,
            )

    def draw(self, state: ProgressState) -> None:
        self._update(state)
        self.progress.refresh()

    def close(self, state: ProgressState) -> None:
        self._update(state)
        self.progress.stop()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    if minutes >= 60:
        hours, minutes = divmod(minutes, 60)
        return f"{int(hours)}:{int(minutes):02d}:{int(secs):02d}"
    return f"{int(minutes)}:{secs:04.1f}"
