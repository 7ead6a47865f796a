"""Hamilton's ``plugins.h_rich`` name: a progress bar drawn with rich.

Example::

    from asyncdag.plugins import h_rich

    dr = driver.Builder().with_modules(m).with_adapters(h_rich.RichProgressBar()).build()

It is asyncdag's :class:`~asyncdag.lifecycle.ProgressBar` (rich on a terminal, plain lines
elsewhere) counting block items and the nodes outside blocks. ``columns`` and rich's own
options are not used: the bar lays out its counters itself.
"""

from __future__ import annotations

from typing import Any

from asyncdag.plugins._progress import NodeAndTaskProgress, progress_options

__all__ = ["RichProgressBar"]


class RichProgressBar(NodeAndTaskProgress):
    """Hamilton's ``RichProgressBar(run_desc, collect_desc, columns, **kwargs)``."""

    def __init__(
        self,
        run_desc: str = "",
        collect_desc: str = "",
        columns: list[Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(run_desc or "Running", **progress_options(kwargs))
        self.collect_desc = collect_desc
