"""Cycles are refused per request: only when the nodes a request needs form a loop.

``build_graph`` keeps every node, also those on a cycle (Hamilton builds such modules too).
Before a request is planned, :func:`for_request` checks the nodes it needs. The common case,
a graph without cycles, costs one test. Otherwise the request's own nodes are ordered again
with the given names (inputs, overrides) cut out, which is how an override breaks a loop.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from asyncdag.errors import CycleError
from asyncdag.graph._build import (
    Graph,
    cycle_error_text,
    find_cycles,
    scopes_of,
    topological_order,
)

__all__ = ["for_request", "has_cycles", "needed_nodes"]


def needed_nodes(
    graph: Graph, outputs: Iterable[str], provided: frozenset[str] = frozenset()
) -> set[str]:
    """The nodes a request of ``outputs`` runs through; a ``provided`` node stops the walk."""
    nodes = graph.nodes
    needed: set[str] = set()
    stack = [o for o in outputs if o in nodes]
    while stack:
        name = stack.pop()
        if name in needed:
            continue
        needed.add(name)
        if name in provided:
            continue
        stack.extend(d for d in nodes[name].dependency_names if d in nodes)
    return needed


def for_request(graph: Graph, outputs: Iterable[str], provided: frozenset[str]) -> Graph:
    """``graph`` itself when the request needs no node of a cycle; else a graph ordered for
    this request (its loops cut by ``provided`` names), or ``CycleError`` naming the loop.

    Call it before planning a request: the planner reads ``order`` and ``scopes``.
    """
    if not graph.blocked:
        return graph
    outputs = tuple(outputs)
    needed = needed_nodes(graph, outputs, provided)
    if needed.isdisjoint(graph.blocked):
        return graph
    sub = {name: graph.nodes[name] for name in graph.nodes if name in needed}
    cut = provided & frozenset(sub)
    loops = find_cycles(sub, cut)
    if loops:
        raise CycleError(cycle_error_text(loops[0]), cycle=loops[0])
    order = topological_order(sub, cut=cut)
    return dataclasses.replace(
        graph, order=tuple(order), scopes=scopes_of(graph.nodes, order, cut), blocked=()
    )


def has_cycles(graph: Graph, outputs: Iterable[str] | None = None) -> bool:
    """Whether the graph (or the part of it that ``outputs`` need) holds a cycle."""
    if not graph.cycles:
        return False
    if outputs is None:
        return True
    needed = needed_nodes(graph, outputs)
    return any(not needed.isdisjoint(cycle) for cycle in graph.cycles)
