"""Grouping strategies: how nodes become tasks.

- :class:`GroupByRepeatableBlocks` (the default): one task per block instance (an item of a
  Parallelizable with all its downstream nodes up to the collectors), one per node outside.
  An all-sync block instance then costs one thread hop, and one payload on processes.
- :class:`GroupNodesIndividually`: every node is its own task; sync nodes inside a block hop to
  the thread pool one by one. Useful to see per-node timing, slower otherwise.
- :class:`GroupNodesAllAsOne` and :class:`GroupNodesByLevel`: Hamilton's other two names.
  Hamilton runs a graph without Parallelizable blocks as one task, or level by level; asyncdag
  never waits for a whole level, since each node starts the moment its arguments are ready.
  ``GroupNodesAllAsOne`` keeps every block instance in one task (as the default does) and
  ``GroupNodesByLevel`` runs nodes one by one (as ``GroupNodesIndividually`` does).

Example::

    from asyncdag.execution import grouping

    dr = driver.Builder().with_modules(m).with_grouping_strategy(
        grouping.GroupNodesIndividually()
    ).build()
"""

from __future__ import annotations

from asyncdag.lifecycle.api import NodeGroupPurpose

__all__ = [
    "GroupByRepeatableBlocks",
    "GroupNodesAllAsOne",
    "GroupNodesByLevel",
    "GroupNodesIndividually",
    "GroupingStrategy",
    "NodeGroupPurpose",
]


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


class GroupNodesAllAsOne(GroupingStrategy):
    """Hamilton's "everything in one task": each block instance runs as one task."""

    group_blocks = True


class GroupNodesByLevel(GroupingStrategy):
    """Hamilton's "one task per level": nodes run one by one, each as soon as it is ready."""

    group_blocks = False
