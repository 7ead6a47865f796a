"""The progress bar behind Hamilton's ``h_rich`` and ``h_tqdm`` names."""

from __future__ import annotations

from typing import IO, Any

from asyncdag.lifecycle.progress import ProgressBar

__all__ = ["NodeAndTaskProgress", "progress_options"]


class NodeAndTaskProgress(ProgressBar):
    """:class:`~asyncdag.lifecycle.ProgressBar` that also counts every node outside
    Parallelizable blocks as one task, so a graph without blocks shows progress too (Hamilton's
    bars count nodes). Items of blocks count as the base class counts them."""

    def __init__(
        self,
        description: str,
        *,
        stream: IO[str] | None = None,
        total: int | None = None,
        refresh_per_second: float = 10.0,
        plain_every: float | None = 30.0,
    ) -> None:
        super().__init__(
            description,
            stream=stream,
            total=total,
            refresh_per_second=refresh_per_second,
            plain_every=plain_every,
        )

    #: the line that counts the nodes outside blocks
    NODES = "nodes"

    def run_before_node_execution(self, *, index: tuple[int, ...] = (), **_: Any) -> None:
        if not index:
            line = self._line(self.NODES)
            if line is not None:
                line.yielded += 1
                line.running += 1

    def run_after_node_execution(
        self, *, success: bool, index: tuple[int, ...] = (), **_: Any
    ) -> None:
        if index:
            return
        line = self._line(self.NODES)
        if line is None:
            return
        line.running -= 1
        if success:
            line.done += 1
        else:
            line.failed += 1


def progress_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments a Hamilton bar was given that asyncdag's bar understands."""
    known = ("stream", "total", "refresh_per_second", "plain_every")
    return {k: kwargs[k] for k in known if k in kwargs}
