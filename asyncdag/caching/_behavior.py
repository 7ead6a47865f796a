"""Caching behaviours and how a node's behaviour is chosen."""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from typing import Any, Literal

__all__ = [
    "BEHAVIOR_KEY",
    "CACHE_BEHAVIORS",
    "FORMAT_KEY",
    "CachingBehavior",
    "NodeSelection",
    "check_selections",
    "resolve_behavior",
]

#: The tags ``@cache`` sets (Hamilton's keys).
BEHAVIOR_KEY = "cache.behavior"
FORMAT_KEY = "cache.format"

CACHE_BEHAVIORS = Literal["default", "recompute", "disable", "ignore"]

#: ``True`` for every node, or the names of some nodes.
NodeSelection = Literal[True] | Collection[str] | None


class CachingBehavior(enum.Enum):
    """What the cache does with a node.

    - ``DEFAULT``: take the result from the cache when the key is known; otherwise run the
      node and store its result.
    - ``RECOMPUTE``: always run the node, and store its result (so that its dependents can
      still hit when it returns what it returned before). For nodes that read the outside
      world: a file that may have changed, a database, the clock.
    - ``DISABLE``: run the node as if there were no cache; nothing is stored, and every node
      that depends on it misses.
    - ``IGNORE``: like ``DISABLE``, but the dependents leave it out of their keys, so they can
      still hit: for clients, connections and credentials, which do not change results.
    """

    DEFAULT = 1
    RECOMPUTE = 2
    DISABLE = 3
    IGNORE = 4

    @classmethod
    def from_string(cls, string: str) -> CachingBehavior:
        """``CachingBehavior.from_string("recompute")``; raises ``KeyError`` naming the choices."""
        try:
            return cls[string.upper()]
        except (KeyError, AttributeError):
            raise KeyError(
                f"{string!r} is not a caching behavior; choose one of"
                f" {[b.name.lower() for b in cls]}"
            ) from None


def check_selections(**selections: NodeSelection) -> None:
    """At most one selection is ``True``, and a node is named in at most one."""
    everything = [name for name, sel in selections.items() if sel is True]
    if len(everything) > 1:
        raise ValueError(
            f"only one of {', '.join(selections)} may be True (all nodes); got"
            f" {', '.join(everything)}. Pass lists of node names instead."
        )
    seen: dict[str, str] = {}
    for name, sel in selections.items():
        if sel is None or sel is True:
            continue
        if isinstance(sel, str):
            raise ValueError(f"{name}= takes a list of node names or True, not the string {sel!r}")
        for node in sel:
            if node in seen:
                raise ValueError(
                    f"node {node!r} is given two caching behaviors: {seen[node]} and {name}"
                )
            seen[node] = name


def resolve_behavior(
    name: str,
    tags: Mapping[str, Any],
    selections: Mapping[CachingBehavior, NodeSelection],
    default_behavior: CachingBehavior,
) -> CachingBehavior:
    """The behaviour of node ``name``: what the Builder says, then ``@cache``, then the default.

    A Builder list names nodes; ``True`` applies to every node that no list names. The Builder
    wins over ``@cache`` because it is closer to the run (Hamilton's rule).
    """
    for behavior, selection in selections.items():
        if selection is not None and selection is not True and name in selection:
            return behavior
    for behavior, selection in selections.items():
        if selection is True:
            return behavior
    tagged = tags.get(BEHAVIOR_KEY)
    if tagged is not None:
        return (
            tagged if isinstance(tagged, CachingBehavior) else CachingBehavior.from_string(tagged)
        )
    return default_behavior
