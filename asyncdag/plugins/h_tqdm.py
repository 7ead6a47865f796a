"""Hamilton's ``plugins.h_tqdm`` name: a progress bar.

Example::

    from asyncdag.plugins import h_tqdm

    dr = driver.Builder().with_modules(m).with_adapters(h_tqdm.ProgressBar(desc="DAG")).build()

It is asyncdag's :class:`~asyncdag.lifecycle.ProgressBar` (drawn with rich on a terminal,
plain lines elsewhere; tqdm is not needed), counting block items and the nodes outside
blocks. tqdm's own options are not used.
"""

from __future__ import annotations

from typing import Any

from asyncdag.plugins._progress import NodeAndTaskProgress, progress_options

__all__ = ["ProgressBar"]


class ProgressBar(NodeAndTaskProgress):
    """Hamilton's ``h_tqdm.ProgressBar(desc, max_node_name_width, **kwargs)``."""

    def __init__(
        self, desc: str = "Graph execution", max_node_name_width: int = 50, **kwargs: Any
    ) -> None:
        super().__init__(desc, **progress_options(kwargs))
        self.max_node_name_width = max_node_name_width
