"""The node model: one output of one function, after decorators and config are applied.

A node's ``callable`` is always called with keyword arguments named after its dependencies
(``callable(**{dep.name: value})``); decorators that rename or bind parameters wrap the user's
function so that this holds. A dependency with ``required=False`` is left out of the call when
nothing provides it, so the function's own default applies.
"""

from __future__ import annotations

import enum
import inspect
import sys
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from asyncdag import htypes
from asyncdag.errors import GraphError
from asyncdag.resources import PER_WORKER_TAG

__all__ = [
    "DISCOVERED_TAG",
    "FRONTIER_TAG",
    "DepKind",
    "Dependency",
    "Node",
    "Role",
    "node_from_function",
    "resolve_hints",
]

#: set on an expander annotated ``-> Frontier[T]`` (fed by its own block)
FRONTIER_TAG = "asyncdag.frontier"
#: set on a node annotated ``-> Discovered[T]`` (feeds its block's Frontier expander)
DISCOVERED_TAG = "asyncdag.discovered"


class Role(enum.Enum):
    STANDARD = "standard"
    EXPAND = "expand"  # returns Parallelizable[T]: one block instance per item
    COLLECT = "collect"  # has at least one Collect-like parameter


class DepKind(enum.Enum):
    VALUE = "value"
    COLLECT = "collect"  # Collect[T]: list in yield order
    STREAM = "stream"  # CollectStream[T]: iterator in yield order
    STREAM_UNORDERED = "stream_unordered"  # CollectAsCompleted[T]: completion order

    @property
    def collects(self) -> bool:
        return self is not DepKind.VALUE


@dataclass(frozen=True)
class Dependency:
    """One parameter of a node: the node (or input) it reads and how."""

    name: str
    type: Any
    kind: DepKind = DepKind.VALUE
    required: bool = True


@dataclass(frozen=True)
class Node:
    """One node of the graph. For an expander, ``type`` is the type of each item."""

    name: str
    type: Any
    callable: Callable[..., Any]
    dependencies: tuple[Dependency, ...] = ()
    role: Role = Role.STANDARD
    is_async: bool = False
    tags: Mapping[str, Any] = field(default_factory=dict)
    doc: str = ""
    originating_function: Callable[..., Any] | None = None
    module: str = ""

    @property
    def dependency_names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.dependencies)

    def copy_with(self, **changes: Any) -> Node:
        """A copy with some fields changed; the role is re-derived from the dependencies."""
        new = replace(self, **changes)
        if "role" not in changes and new.role is not Role.EXPAND:
            role = Role.COLLECT if any(d.kind.collects for d in new.dependencies) else Role.STANDARD
            new = replace(new, role=role)
        return new


def resolve_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """Type hints of ``fn``, evaluated also under ``from __future__ import annotations``.

    Hints that cannot be evaluated (a name only imported under ``TYPE_CHECKING``) become ``Any``
    rather than failing the build.
    """
    target = inspect.unwrap(fn)
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception:
        pass
    module = sys.modules.get(getattr(target, "__module__", ""), None)
    namespace = dict(vars(module)) if module is not None else {}
    hints: dict[str, Any] = {}
    for key, raw in getattr(target, "__annotations__", {}).items():
        if isinstance(raw, str):
            try:
                hints[key] = eval(raw, namespace)  # the annotation's own module namespace
            except Exception:
                hints[key] = Any
        else:
            hints[key] = raw
    return hints


def _is_async_callable(fn: Callable[..., Any]) -> bool:
    target = inspect.unwrap(fn)
    return inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)


def dependency_kind(annotation: Any) -> DepKind:
    origin = typing.get_origin(annotation) or annotation
    if isinstance(origin, type):
        if issubclass(origin, htypes.CollectAsCompleted):
            return DepKind.STREAM_UNORDERED
        if issubclass(origin, htypes.CollectStream):
            return DepKind.STREAM
        if issubclass(origin, htypes.Collect):
            return DepKind.COLLECT
    return DepKind.VALUE


def _yielded_type(annotation: Any) -> Any:
    """``T`` for a factory annotated ``Iterator[T]``, ``Generator[T, ...]`` and async kin."""
    import collections.abc as cabc

    origin = typing.get_origin(annotation)
    wrappers = (cabc.Iterator, cabc.Generator, cabc.AsyncIterator, cabc.AsyncGenerator)
    if origin in wrappers:
        args = typing.get_args(annotation)
        return args[0] if args else Any
    return annotation


def node_from_function(
    fn: Callable[..., Any], name: str | None = None, tags: Mapping[str, Any] | None = None
) -> Node:
    """The plain node of an undecorated function: its name, parameters and return type."""
    node_name = name or fn.__name__
    hints = resolve_hints(fn)
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise GraphError(f"cannot read the signature of {node_name!r}: {exc}") from exc
    deps: list[Dependency] = []
    for param in signature.parameters.values():
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise GraphError(
                f"function {node_name!r} has *{param.name} / **{param.name}: a node's parameters"
                " must each name one dependency; spell them out"
            )
        if param.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise GraphError(
                f"function {node_name!r}: parameter {param.name!r} is positional-only; nodes are"
                " called by keyword, so remove the '/'"
            )
        annotation = hints.get(param.name, Any)
        kind = dependency_kind(annotation)
        dep_type = htypes.item_type(annotation) if kind.collects else annotation
        deps.append(
            Dependency(
                name=param.name,
                type=dep_type,
                kind=kind,
                required=param.default is inspect.Parameter.empty,
            )
        )
    returns = hints.get("return", Any)
    node_tags = {**getattr(fn, "__asyncdag_tags__", {}), **(tags or {})}
    if getattr(fn, "__asyncdag_per_worker__", False):
        node_tags[PER_WORKER_TAG] = True
        returns = _yielded_type(returns)
    if htypes.is_frontier(returns):
        node_tags[FRONTIER_TAG] = True
    elif htypes.is_discovered(returns):
        node_tags[DISCOVERED_TAG] = True
    if htypes.is_parallelizable(returns):
        role = Role.EXPAND
        out_type = htypes.item_type(returns)
    else:
        role = Role.COLLECT if any(d.kind.collects for d in deps) else Role.STANDARD
        out_type = returns
    return Node(
        name=node_name,
        type=out_type,
        callable=fn,
        dependencies=tuple(deps),
        role=role,
        is_async=_is_async_callable(fn),
        tags=node_tags,
        doc=inspect.getdoc(fn) or "",
        originating_function=fn,
        module=getattr(fn, "__module__", "") or "",
    )
