"""Grouping strategies: how nodes become tasks.

- :class:`GroupByRepeatableBlocks` (the default): one task per block instance (an item of a
  Parallelizable with all its downstream nodes up to the collectors), one per node outside.
  An all-sync block instance then costs one thread hop, and one payload on processes.
- :class:`GroupNodesIndividually`: every node is its own task; sync nodes inside a block hop to
  the thread pool one by one. Useful to see per-node timing, slower otherwise.
"""

from __future__ import annotations

__all__ = ["GroupByRepeatableBlocks", "GroupNodesIndividually", "GroupingStrategy"]


class GroupingStrategy:
    """Base class of grouping strategies."""

    #: whether a block instance runs as one task
    group_blocks: bool = True

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class GroupByRepeatableBlocks(GroupingStrategy):
    """One task per block instance, one per node outside any block (the default)."""

    group_blocks = True


class GroupNodesIndividually(GroupingStrategy):
    """One task per node, also inside blocks."""

    group_blocks = False
