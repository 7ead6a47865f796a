"""Which nodes a request runs: the graph half of planning, apart from execution.

``select(graph, outputs, provided)`` walks back from the outputs, stops at what is provided
(inputs and overrides), and reports unknown outputs and missing inputs before anything runs.
Pictures (``viz``) and the execution planner both start from a :class:`Selection`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asyncdag.errors import MissingInputError, UnknownOutputError
from asyncdag.graph._build import Graph, Scope, scopes_of
from asyncdag.graph._node import DISCOVERED_TAG, Node, Role

__all__ = ["Selection", "select"]


@dataclass(frozen=True)
class Selection:
    """The nodes a request runs, in topological order, with the block each runs in."""

    graph: Graph
    outputs: tuple[str, ...]
    provided: frozenset[str]
    order: tuple[str, ...]  # the nodes that run (or fan out over provided items)
    scopes: dict[str, Scope]
    required_inputs: frozenset[str]
    optional_inputs: frozenset[str]

    @property
    def nodes(self) -> Any:
        return self.graph.nodes

    def overridden(self, name: str) -> bool:
        """Provided, and so not computed (an overridden expander still fans out)."""
        node = self.graph.nodes.get(name)
        return name in self.provided and (node is None or node.role is not Role.EXPAND)

    def key_scope(self, name: str) -> Scope:
        """The block a value of ``name`` lives in: an expander's items live in its own."""
        node = self.graph.nodes.get(name)
        if node is None or self.overridden(name):
            return ()
        if node.role is Role.EXPAND:
            return (*self.scopes[name], name)
        return self.scopes[name]


def select(graph: Graph, outputs: tuple[str, ...], provided: frozenset[str]) -> Selection:
    """The nodes a run of ``outputs`` needs when ``provided`` names are given.

    Raises ``UnknownOutputError`` and ``MissingInputError`` naming what to fix.
    """
    nodes = graph.nodes
    unknown = [o for o in outputs if o not in nodes and o not in provided]
    if unknown:
        known_inputs = sorted(set(graph.inputs) - provided)
        hint = f" It is not a node; inputs not given: {known_inputs}." if known_inputs else ""
        raise UnknownOutputError(
            f"unknown output(s) {unknown}: no node has that name and no input was given for"
            f" it.{hint} Check the spelling, or list the nodes with"
            " driver.list_available_variables()."
        )
    needed, required, optional = _walk_back(nodes, outputs, provided)
    # A Frontier expander that runs is fed by its block's Discovered nodes: they run too,
    # with what they read, whether or not an output asks for them.
    while True:
        feeders = tuple(
            name
            for name in graph.order
            if name not in needed
            and nodes[name].tags.get(DISCOVERED_TAG)
            and graph.scopes.get(name)
            and graph.scopes[name][-1] in needed
        )
        if not feeders:
            break
        more, more_required, more_optional = _walk_back(nodes, feeders, provided)
        needed |= more
        required |= more_required
        optional |= more_optional
    order = tuple(n for n in graph.order if n in needed)
    scopes = scopes_of(nodes, order, provided) if provided & needed else dict(graph.scopes)
    for o in outputs:
        if o in nodes and o in provided and nodes[o].role is not Role.EXPAND:
            scopes[o] = ()
    return Selection(
        graph=graph,
        outputs=outputs,
        provided=provided,
        order=order,
        scopes=scopes,
        required_inputs=frozenset(required),
        optional_inputs=frozenset(optional),
    )


def _walk_back(
    nodes: Any, outputs: tuple[str, ...], provided: frozenset[str]
) -> tuple[set[str], set[str], set[str]]:
    # An override (or input) stops the walk, except that an overridden expander still fans
    # out over the items given.
    needed: set[str] = set()
    missing: dict[str, list[str]] = {}
    optional: set[str] = set()
    required: set[str] = set()
    stack = [o for o in outputs if o in nodes]
    while stack:
        name = stack.pop()
        if name in needed:
            continue
        needed.add(name)
        if name in provided:
            continue
        node: Node = nodes[name]
        for dep in node.dependencies:
            if dep.name in nodes:
                stack.append(dep.name)
            elif dep.name in provided:
                (required if dep.required else optional).add(dep.name)
            elif dep.required:
                missing.setdefault(dep.name, []).append(name)
    if missing:
        lines = ", ".join(
            f"{k!r} (needed by {', '.join(map(repr, v))})" for k, v in missing.items()
        )
        raise MissingInputError(
            f"missing input(s): {lines}. Pass them in inputs={{...}}, or add a function that"
            " computes them.",
            missing=missing,
        )
    return needed, required, optional
