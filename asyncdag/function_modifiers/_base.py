"""What every function modifier shares: where it attaches, when it runs, how it fails.

A decorator does nothing to the function when applied: it appends itself to a list on the
function (``__asyncdag_modifiers__``) and returns the same function, so the module stays plain
Python. At build time :func:`asyncdag.function_modifiers._resolve.nodes_for_functions` reads
that list and runs the modifiers stage by stage:

1. ``RESOLVE``   — is the function in the graph under this config, and under which name
2. ``CREATE``    — the function's first nodes (default: one node from the signature)
3. ``INJECT``    — nodes that feed a parameter (``pipe_input``)
4. ``EXPAND``    — one node becomes several (``parameterize``, ``inject``)
5. ``TRANSFORM`` — selected nodes are rewritten (``extract_*``, ``check_output``, ``pipe_output``)
6. ``DECORATE``  — metadata on selected nodes (``tag``, ``schema``)

Within a stage, modifiers run in the order they were applied (the one nearest to ``def``
first). ``resolve`` is staged when the config is known: it turns into another modifier.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from asyncdag.errors import InvalidDecoratorError
from asyncdag.graph._node import Node

__all__ = [
    "MODIFIERS_ATTR",
    "BuildContext",
    "Modifier",
    "NodeDecorator",
    "NodeSetModifier",
    "Resolver",
    "Stage",
    "TargetType",
    "Transformer",
    "final_nodes",
    "function_label",
    "invalid",
    "modifiers_of",
    "select_targets",
]

MODIFIERS_ATTR = "__asyncdag_modifiers__"

F = TypeVar("F", bound=Callable[..., Any])

#: Which nodes of a function's sub-graph a modifier applies to: ``None`` for the final nodes
#: (those no other node of the function reads), ``...`` for all, or one or several names.
TargetType = Any


class Stage(enum.IntEnum):
    RESOLVE = 1
    CREATE = 2
    INJECT = 3
    EXPAND = 4
    TRANSFORM = 5
    DECORATE = 6
    DYNAMIC = 7  # staged at build time, once the config is known


@dataclass
class BuildContext:
    """One function being turned into nodes."""

    fn: Callable[..., Any]
    original_name: str  # the attribute name in its module, e.g. ``total__v2``
    config: Any  # Mapping[str, Any]
    name: str = ""  # the node name the function defines, e.g. ``total``
    internal: set[str] = field(default_factory=set)  # nodes never "final" (subdag insides)
    config_keys: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.name:
            self.name = self.original_name


def function_label(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None) or "?"
    return f"{module}.{getattr(fn, '__qualname__', getattr(fn, '__name__', repr(fn)))}"


def invalid(decorator: str, fn: Callable[..., Any] | None, message: str) -> InvalidDecoratorError:
    """An ``InvalidDecoratorError`` naming the decorator, the function and the problem."""
    where = f" on function {function_label(fn)}" if fn is not None else ""
    return InvalidDecoratorError(f"@{decorator}{where}: {message}")


def modifiers_of(fn: Callable[..., Any]) -> list[Modifier]:
    return list(getattr(fn, MODIFIERS_ATTR, ()))


class Modifier(abc.ABC):
    """Base of every function modifier: applying it records it on the function."""

    stage: ClassVar[Stage]
    allows_multiple: ClassVar[bool] = True

    @property
    def decorator_name(self) -> str:
        return type(self).__name__

    def __call__(self, fn: F) -> F:
        if not callable(fn):
            raise invalid(self.decorator_name, None, f"can only decorate a function, not {fn!r}")
        existing = modifiers_of(fn)
        if not self.allows_multiple and any(type(m) is type(self) for m in existing):
            raise invalid(self.decorator_name, fn, "may be applied only once per function")
        # A new list each time: functools.wraps copies __dict__, and a shared list would leak
        # decorators from a wrapper back to the function it wraps.
        setattr(fn, MODIFIERS_ATTR, [*existing, self])
        return fn

    def error(self, ctx: BuildContext | Callable[..., Any] | None, message: str) -> Exception:
        fn = ctx.fn if isinstance(ctx, BuildContext) else ctx
        return invalid(self.decorator_name, fn, message)


class Resolver(Modifier):
    """Decides whether the function is in the graph and under which node name."""

    stage = Stage.RESOLVE

    @abc.abstractmethod
    def resolve(self, ctx: BuildContext) -> str | None:
        """The node name, or ``None`` to leave the function out."""


class Creator(Modifier):
    """Creates the function's first nodes; at most one per function."""

    stage = Stage.CREATE

    @abc.abstractmethod
    def create(self, ctx: BuildContext) -> list[Node]: ...


class NodeSetModifier(Modifier):
    """Rewrites the set of nodes a function defines so far."""

    @abc.abstractmethod
    def apply(self, nodes: list[Node], ctx: BuildContext) -> list[Node]: ...


class Dynamic(Modifier):
    """Becomes another modifier once the config is known (``resolve``)."""

    stage = Stage.DYNAMIC

    @abc.abstractmethod
    def materialize(self, ctx: BuildContext) -> Modifier: ...


def final_nodes(nodes: Sequence[Node], internal: Collection[str] = ()) -> list[Node]:
    """Nodes that no other node of the set reads and that are not marked internal."""
    read = {dep for node in nodes for dep in node.dependency_names}
    return [n for n in nodes if n.name not in read and n.name not in internal]


def select_targets(
    target: TargetType, nodes: Sequence[Node], internal: Collection[str] = ()
) -> list[Node]:
    """The nodes ``target`` designates; raises ``LookupError`` naming what is missing."""
    if target is None:
        return final_nodes(nodes, internal)
    if target is Ellipsis:
        return list(nodes)
    wanted = {target} if isinstance(target, str) else set(target)
    found = [n for n in nodes if n.name in wanted]
    missing = wanted - {n.name for n in found}
    if missing:
        raise LookupError(
            f"target_ names {sorted(missing)} are not among the nodes this function defines:"
            f" {[n.name for n in nodes]}"
        )
    return found


def check_target(decorator: str, target: TargetType) -> None:
    if target is None or target is Ellipsis or isinstance(target, str):
        return
    if isinstance(target, Collection) and all(isinstance(t, str) for t in target):
        return
    raise invalid(decorator, None, f"target_ must be None, ..., a name or names; got {target!r}")


class Transformer(NodeSetModifier):
    """Rewrites each targeted node into one or more nodes; the others are kept."""

    stage = Stage.TRANSFORM
    single_target: ClassVar[bool] = False

    def __init__(self, target: TargetType = None) -> None:
        check_target(self.decorator_name, target)
        self.target = target

    def apply(self, nodes: list[Node], ctx: BuildContext) -> list[Node]:
        try:
            targets = select_targets(self.target, nodes, ctx.internal)
        except LookupError as exc:
            raise self.error(ctx, str(exc)) from None
        if self.single_target and len(targets) != 1:
            raise self.error(
                ctx,
                f"applies to exactly one node, but the decorators below it produce"
                f" {len(targets)} final nodes: {[n.name for n in targets]}",
            )
        chosen = {id(n) for n in targets}
        out = [n for n in nodes if id(n) not in chosen]
        for node in targets:
            out.extend(self.transform_node(node, ctx))
        return out

    @abc.abstractmethod
    def transform_node(self, node: Node, ctx: BuildContext) -> list[Node]: ...


class NodeDecorator(Transformer):
    """A transformer that changes each targeted node in place (tags, checks)."""

    stage = Stage.DECORATE

    def transform_node(self, node: Node, ctx: BuildContext) -> list[Node]:
        return [self.decorate_node(node, ctx)]

    @abc.abstractmethod
    def decorate_node(self, node: Node, ctx: BuildContext) -> Node: ...
