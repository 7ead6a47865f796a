"""From modules and config to a validated graph.

``build_graph`` collects the functions each module defines, turns them into nodes (through the
function modifiers), and checks, before anything runs: duplicate names, edge types and block
scopes. Every problem is reported with the nodes involved and how to fix it.

Cycles are Hamilton's way: a module may hold nodes that depend on each other in a loop, and
the graph still builds. Those nodes, and every node that reads them, are kept out of
``Graph.order`` and listed in ``Graph.blocked``; a request that needs them is refused by
:func:`asyncdag.graph._cycles.for_request` with a ``CycleError`` naming the loop (or planned,
when an override cuts the loop).
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from asyncdag.errors import (
    DuplicateNodeError,
    GraphError,
    ScopeError,
    TypeMismatchError,
)
from asyncdag.function_modifiers._resolve import nodes_for_functions
from asyncdag.graph._discover import module_functions
from asyncdag.graph._node import Dependency, Node, Role
from asyncdag.graph._types import describe, types_compatible
from asyncdag.resources import PER_WORKER_TAG

__all__ = [
    "Graph",
    "build_graph",
    "cycle_error_text",
    "find_cycles",
    "module_functions",
    "scopes_of",
    "topological_order",
]

Scope = tuple[str, ...]


@dataclass(frozen=True)
class Graph:
    """All nodes of a driver, validated. Immutable after ``build_graph``."""

    nodes: Mapping[str, Node]
    config: Mapping[str, Any]
    # every name that is depended on but not produced: the user inputs, with their readers
    inputs: Mapping[str, tuple[tuple[Node, Dependency], ...]]
    order: tuple[str, ...]  # a topological order of the nodes outside any cycle
    scopes: Mapping[str, Scope]  # the chain of expanders each node runs inside
    consumers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # nodes on a cycle or downstream of one (not in ``order``), and the cycles themselves
    blocked: tuple[str, ...] = ()
    cycles: tuple[tuple[str, ...], ...] = ()


def build_graph(
    modules: Sequence[types.ModuleType],
    config: Mapping[str, Any],
    *,
    allow_module_overrides: bool = False,
    edge_checks: Sequence[Callable[[Any, Any], bool]] = (),
) -> Graph:
    """Build and validate the graph of ``modules`` under ``config``.

    ``edge_checks`` may accept an edge whose types the default check refuses (Hamilton's
    ``EdgeConnectionHook.check_edge_types_match``): each is called as ``check(from, to)``.
    """
    nodes: dict[str, Node] = {}
    for module in modules:
        for made in nodes_for_functions(module_functions(module), config):
            # Hamilton tags every node with its module; tag filters rely on it
            node = made.copy_with(tags={"module": made.module or module.__name__, **made.tags})
            previous = nodes.get(node.name)
            if previous is not None and not allow_module_overrides:
                raise DuplicateNodeError(
                    f"node {node.name!r} is defined twice: in module {previous.module!r} and in"
                    f" module {node.module!r}. Rename one, or call"
                    " Builder.allow_module_overrides() to let the later module win."
                )
            nodes[node.name] = node
    return graph_from_nodes(nodes.values(), config, edge_checks)


def graph_from_nodes(
    all_nodes: Iterable[Node],
    config: Mapping[str, Any],
    edge_checks: Sequence[Callable[[Any, Any], bool]] = (),
) -> Graph:
    nodes = {n.name: n for n in all_nodes}
    for node in nodes.values():
        per_worker = node.tags.get(PER_WORKER_TAG)
        if node.role is not Role.EXPAND and not per_worker and _is_async_generator(node):
            raise GraphError(
                f"node {node.name!r} is an async generator but is not annotated as an"
                " expander; annotate its return as Parallelizable[T] to fan out over what it"
                " yields, or make it return a value."
            )
    _check_async_resources_have_async_readers(nodes)
    cycles = find_cycles(nodes)
    blocked = _downstream_of_cycles(nodes, cycles)
    order = topological_order(nodes, skip=blocked)
    _check_types(nodes, edge_checks)
    _check_input_types_agree(nodes, edge_checks)
    scopes = scopes_of(nodes, order, provided=frozenset())
    inputs: dict[str, list[tuple[Node, Dependency]]] = {}
    consumers: dict[str, list[str]] = {}
    blocked_order = [n for n in nodes if n in blocked]
    for name in [*order, *blocked_order]:
        node = nodes[name]
        for dep in node.dependencies:
            consumers.setdefault(dep.name, []).append(name)
            if dep.name not in nodes:
                inputs.setdefault(dep.name, []).append((node, dep))
    return Graph(
        nodes=nodes,
        config=dict(config),
        inputs={k: tuple(v) for k, v in inputs.items()},
        order=tuple(order),
        scopes=scopes,
        consumers={k: tuple(v) for k, v in consumers.items()},
        blocked=tuple(blocked_order),
        cycles=tuple(tuple(c) for c in cycles),
    )


def _check_async_resources_have_async_readers(nodes: Mapping[str, Node]) -> None:
    for node in nodes.values():
        if node.is_async:
            continue
        for dep in node.dependencies:
            resource = nodes.get(dep.name)
            if resource is not None and resource.tags.get(PER_WORKER_TAG) and resource.is_async:
                raise GraphError(
                    f"node {node.name!r} is sync but reads {dep.name!r}, an async per-worker"
                    f" resource (built on an event loop). Make {node.name!r} `async def`, or"
                    f" make the resource's function sync."
                )


def _is_async_generator(node: Node) -> bool:
    return inspect.isasyncgenfunction(inspect.unwrap(node.callable))


def _check_input_types_agree(
    nodes: Mapping[str, Node], edge_checks: Sequence[Callable[[Any, Any], bool]] = ()
) -> None:
    """An input read as two incompatible types can never be satisfied: say so at build."""
    seen: dict[str, tuple[str, Any]] = {}
    for node in nodes.values():
        for dep in node.dependencies:
            if dep.name in nodes or dep.kind.collects:
                continue
            first = seen.setdefault(dep.name, (node.name, dep.type))
            other_node, other_type = first
            if other_node == node.name:
                continue
            if not (
                types_compatible(dep.type, other_type)
                or types_compatible(other_type, dep.type)
                or any(check(other_type, dep.type) for check in edge_checks)
            ):
                raise TypeMismatchError(
                    f"input {dep.name!r} is read as {describe(other_type)} by {other_node!r}"
                    f" and as {describe(dep.type)} by {node.name!r}; no value can be both."
                    " Make the two annotations agree."
                )


def topological_order(
    nodes: Mapping[str, Node],
    *,
    skip: frozenset[str] | set[str] = frozenset(),
    cut: frozenset[str] = frozenset(),
) -> list[str]:
    """Depth-first order of ``nodes`` less ``skip``; a ``cut`` node's dependencies are ignored
    (it is given). The nodes left must form no cycle (see :func:`find_cycles`)."""
    order: list[str] = []
    done: set[str] = set(skip)

    def deps(name: str) -> Any:
        return iter(()) if name in cut else iter(nodes[name].dependency_names)

    for root in nodes:
        if root in done:
            continue
        done.add(root)
        stack: list[tuple[str, Any]] = [(root, deps(root))]
        while stack:
            name, pending = stack[-1]
            for dep in pending:
                if dep in nodes and dep not in done:
                    done.add(dep)
                    stack.append((dep, deps(dep)))
                    break
            else:
                stack.pop()
                order.append(name)
    return order


def find_cycles(nodes: Mapping[str, Node], cut: frozenset[str] = frozenset()) -> list[list[str]]:
    """One loop per strongly connected component that has one, as a path of node names in
    the direction values flow (``a -> b -> a``: ``b`` reads ``a``, ``a`` reads ``b``).

    A ``cut`` node is given, so its dependencies do not count (an override breaks a loop).
    """
    # Tarjan's algorithm, iterative: deep graphs must not hit the recursion limit.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []

    def deps(name: str) -> list[str]:
        if name in cut:
            return []
        return [d for d in nodes[name].dependency_names if d in nodes]

    counter = 0
    for root in nodes:
        if root in index:
            continue
        work: list[tuple[str, Any]] = [(root, iter(deps(root)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            name, pending = work[-1]
            advanced = False
            for dep in pending:
                if dep not in index:
                    index[dep] = low[dep] = counter
                    counter += 1
                    stack.append(dep)
                    on_stack.add(dep)
                    work.append((dep, iter(deps(dep))))
                    advanced = True
                    break
                if dep in on_stack:
                    low[name] = min(low[name], index[dep])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[name])
            if low[name] == index[name]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == name:
                        break
                if len(component) > 1 or name in deps(name):
                    components.append(component)
    return [_loop_in(nodes, set(c), cut) for c in components]


def _loop_in(nodes: Mapping[str, Node], members: set[str], cut: frozenset[str]) -> list[str]:
    """A closed path through a strongly connected component, in the direction values flow."""
    start = min(members, key=list(nodes).index)
    # breadth-first from start along "reads" edges back to start
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for name in frontier:
            if name in cut:
                continue
            for dep in nodes[name].dependency_names:
                if dep not in members:
                    continue
                if dep == start:
                    path = [start, name]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return path  # start reads ... reads start, i.e. values flow start -> ...
                if dep not in previous:
                    previous[dep] = name
                    following.append(dep)
        frontier = following
    return [start, start]  # pragma: no cover - a component always closes


def _downstream_of_cycles(nodes: Mapping[str, Node], cycles: list[list[str]]) -> set[str]:
    blocked = {name for cycle in cycles for name in cycle}
    if not blocked:
        return blocked
    readers: dict[str, list[str]] = {}
    for node in nodes.values():
        for dep in node.dependency_names:
            readers.setdefault(dep, []).append(node.name)
    todo = list(blocked)
    while todo:
        for reader in readers.get(todo.pop(), ()):
            if reader not in blocked:
                blocked.add(reader)
                todo.append(reader)
    return blocked


def cycle_error_text(cycle: Sequence[str]) -> str:
    """The message of a ``CycleError`` for ``cycle`` (values flow left to right)."""
    return (
        "the graph has a cycle: "
        + " -> ".join(cycle)
        + ". Each arrow reads 'is read by'; break the loop by renaming a parameter, removing"
        " one of these dependencies, or overriding one of these nodes."
    )


def _check_types(
    nodes: Mapping[str, Node], edge_checks: Sequence[Callable[[Any, Any], bool]] = ()
) -> None:
    for node in nodes.values():
        for dep in node.dependencies:
            producer = nodes.get(dep.name)
            if producer is None or types_compatible(producer.type, dep.type):
                continue
            if any(check(producer.type, dep.type) for check in edge_checks):
                continue
            what = "yields items of type" if producer.role is Role.EXPAND else "returns"
            wrapped = f"{dep.kind.value} of " if dep.kind.collects else ""
            raise TypeMismatchError(
                f"type mismatch on edge {producer.name!r} -> {node.name!r}: {producer.name!r}"
                f" {what} {describe(producer.type)}, but parameter {dep.name!r} of {node.name!r}"
                f" expects {wrapped}{describe(dep.type)}. Change one of the two annotations so"
                " that they agree."
            )


def scopes_of(
    nodes: Mapping[str, Node], order: Sequence[str], provided: frozenset[str]
) -> dict[str, Scope]:
    """The chain of expanders each node runs inside.

    A value dependency on an expander puts the reader one block deeper; a Collect dependency
    lifts it one block out. A node's scope is the deepest of what its parameters bring, and
    all of them must lie on one chain. A ``provided`` name (an override) is a plain value at
    the top, unless it is an expander, which then fans out over the given items.
    """
    scopes: dict[str, Scope] = {}
    for name in order:
        node = nodes[name]
        if name in provided:  # an overridden expander fans out over the given items, at the top
            scopes[name] = ()
            continue
        deepest: Scope = ()
        deepest_from = ""
        collected: list[tuple[Dependency, Scope]] = []
        for dep in node.dependencies:
            base = _item_scope(nodes, scopes, dep.name, provided)
            if dep.kind.collects:
                if not base:
                    raise ScopeError(
                        f"node {name!r} collects {dep.name!r} with {dep.kind.value}[...], but"
                        f" {dep.name!r} is not inside any Parallelizable block. Annotate the"
                        f" parameter with the plain type instead of {dep.kind.value}[...], or"
                        " make it depend on an expander's items."
                    )
                collected.append((dep, base))
                contribution = base[:-1]
            else:
                contribution = base
            if _is_prefix(deepest, contribution):
                if len(contribution) > len(deepest):
                    deepest, deepest_from = contribution, dep.name
            elif not _is_prefix(contribution, deepest):
                raise ScopeError(
                    f"node {name!r} mixes items of two different expanders: {dep.name!r} runs"
                    f" per item of {_describe_scope(contribution)} and {deepest_from!r} per item"
                    f" of {_describe_scope(deepest)}. Collect one side first"
                    " (a parameter typed Collect[...]) so the node sees one item at a time."
                )
        for dep, base in collected:
            if deepest[: len(base)] == base:
                raise ScopeError(
                    f"node {name!r} collects {dep.name!r} but also runs inside the same block"
                    f" of {base[-1]!r} (it reads another per-item value of {base[-1]!r}), so it"
                    " would need the whole collection before its own item finished. Move the"
                    " per-item reads into a separate node, or collect them too."
                )
            if dep.kind.value.startswith("stream") and deepest != base[:-1]:
                raise ScopeError(
                    f"node {name!r} streams {dep.name!r} but runs inside another block"
                    f" ({_describe_scope(deepest)}); a streaming collector must sit directly"
                    f" outside the block of {base[-1]!r}. Use Collect[...] instead."
                )
        scopes[name] = deepest
    return scopes


def _item_scope(
    nodes: Mapping[str, Node], scopes: Mapping[str, Scope], name: str, provided: frozenset[str]
) -> Scope:
    producer = nodes.get(name)
    if producer is None:
        return ()
    base = scopes[name]
    if producer.role is Role.EXPAND:
        return (*base, name)
    return base


def _is_prefix(short: Scope, long: Scope) -> bool:
    return long[: len(short)] == short


def _describe_scope(scope: Scope) -> str:
    return "the top level" if not scope else " > ".join(repr(s) for s in scope)
