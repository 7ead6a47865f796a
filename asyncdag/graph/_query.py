"""Walks over a built graph: what is upstream, downstream, or between two nodes.

Names may be nodes or inputs. Results keep the graph's own order (nodes in topological order,
then the nodes held back by a cycle, then inputs), so that they read the same on every call.
"""

from __future__ import annotations

from collections.abc import Iterable

from asyncdag.errors import UnknownOutputError
from asyncdag.graph._build import Graph

__all__ = ["downstream_of", "path_between", "upstream_of"]


def _check_known(graph: Graph, names: Iterable[str]) -> None:
    unknown = [n for n in names if n not in graph.nodes and n not in graph.inputs]
    if unknown:
        raise UnknownOutputError(
            f"{unknown} are neither nodes nor inputs of this graph. Check the spelling, or list"
            " them with driver.list_available_variables()."
        )


def _in_order(graph: Graph, found: set[str]) -> list[str]:
    ordered = [n for n in (*graph.order, *graph.blocked) if n in found]
    return ordered + [n for n in graph.inputs if n in found]


def downstream_of(graph: Graph, names: Iterable[str]) -> list[str]:
    """``names`` and every node that reads them, directly or not."""
    names = list(names)
    _check_known(graph, names)
    found: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        todo.extend(graph.consumers.get(name, ()))
    return _in_order(graph, found)


def upstream_of(graph: Graph, names: Iterable[str]) -> tuple[list[str], list[str]]:
    """(``names`` and every node they read, directly or not; the inputs among those reads)."""
    names = list(names)
    _check_known(graph, names)
    found: set[str] = set()
    inputs: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in found or name in inputs:
            continue
        node = graph.nodes.get(name)
        if node is None:
            inputs.add(name)
            continue
        found.add(name)
        todo.extend(node.dependency_names)
    return _in_order(graph, found), _in_order(graph, inputs)


def path_between(graph: Graph, upstream: str, downstream: str) -> list[str]:
    """The nodes on any path from ``upstream`` to ``downstream``, both included; ``[]`` when
    ``downstream`` does not depend on ``upstream``."""
    _check_known(graph, [upstream, downstream])
    below = set(downstream_of(graph, [upstream]))
    nodes, inputs = upstream_of(graph, [downstream])
    above = set(nodes) | set(inputs)
    if upstream not in above:
        return []
    return _in_order(graph, below & above)
