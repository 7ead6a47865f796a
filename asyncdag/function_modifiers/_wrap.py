"""Callables that adapt a user's function to a node's dependencies.

A node's callable is called with one keyword argument per dependency. When a modifier renames
or binds parameters, the node gets a wrapper that translates those keywords into the user
function's own parameters. A wrapper keeps the call style of what it wraps, so the engine treats
it exactly like the original:

- a coroutine function is wrapped by an ``async def`` that awaits it;
- a sync generator function by a generator function (``yield from``), so the engine still
  creates it on the loop and advances it in its producer thread;
- an async generator function by a plain function that returns the async generator;
- anything else by a plain function.

Wrappers are closures; cloudpickle ships them to process workers by value.
"""

from __future__ import annotations

import enum
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from asyncdag.function_modifiers._dependencies import (
    GroupedDictDependency,
    GroupedListDependency,
    LiteralDependency,
    ParametrizedDependency,
    UpstreamDependency,
    group_member_type,
)
from asyncdag.graph._node import Dependency, DepKind, Node

__all__ = [
    "CallStyle",
    "call_style",
    "constant",
    "glue",
    "map_result",
    "rebind",
]

_STYLE_ATTR = "__asyncdag_call_style__"


class CallStyle(enum.Enum):
    SYNC = "sync"
    SYNC_GEN = "sync_gen"
    AWAIT = "await"
    ASYNC_GEN = "async_gen"

    @property
    def is_async(self) -> bool:
        return self in (CallStyle.AWAIT, CallStyle.ASYNC_GEN)


def call_style(node: Node) -> CallStyle:
    """How the node's callable must be driven."""
    marked = getattr(node.callable, _STYLE_ATTR, None)
    if isinstance(marked, CallStyle):
        return marked
    target = inspect.unwrap(node.callable)
    if inspect.isasyncgenfunction(target):
        return CallStyle.ASYNC_GEN
    if inspect.isgeneratorfunction(target):
        return CallStyle.SYNC_GEN
    if node.is_async or inspect.iscoroutinefunction(target):
        return CallStyle.AWAIT
    return CallStyle.SYNC


def function_style(fn: Callable[..., Any]) -> CallStyle:
    target = inspect.unwrap(fn)
    if inspect.isasyncgenfunction(target):
        return CallStyle.ASYNC_GEN
    if inspect.isgeneratorfunction(target):
        return CallStyle.SYNC_GEN
    if inspect.iscoroutinefunction(target):
        return CallStyle.AWAIT
    return CallStyle.SYNC


def _mark(fn: Callable[..., Any], style: CallStyle) -> Callable[..., Any]:
    setattr(fn, _STYLE_ATTR, style)
    return fn


def adapt(
    fn: Callable[..., Any], style: CallStyle, translate: Callable[[dict[str, Any]], dict[str, Any]]
) -> Callable[..., Any]:
    """A callable of ``style`` that calls ``fn(**translate(kwargs))``."""
    if style is CallStyle.AWAIT:

        async def call_async(**kwargs: Any) -> Any:
            return await fn(**translate(kwargs))

        return _mark(call_async, style)
    if style is CallStyle.SYNC_GEN:

        def call_gen(**kwargs: Any) -> Any:
            return (yield from fn(**translate(kwargs)))

        return _mark(call_gen, style)

    def call(**kwargs: Any) -> Any:
        return fn(**translate(kwargs))

    return _mark(call, style)


def map_result(
    fn: Callable[..., Any], style: CallStyle, post: Callable[[Any], Any]
) -> Callable[..., Any]:
    """A callable that returns ``post(fn(**kwargs))``; not for generator styles."""
    if style is CallStyle.AWAIT:

        async def call_async(**kwargs: Any) -> Any:
            return post(await fn(**kwargs))

        return _mark(call_async, style)
    if style is not CallStyle.SYNC:
        raise TypeError("cannot post-process the result of a generator")

    def call(**kwargs: Any) -> Any:
        return post(fn(**kwargs))

    return _mark(call, style)


def glue(fn: Callable[..., Any], is_async: bool) -> Callable[..., Any]:
    """A cheap sync ``fn`` as a node callable: ``async def`` when its neighbours are async.

    Glue nodes (field extraction, identity) follow the node they read, so that an async
    pipeline stays on the loop and a sync pipeline stays in one worker hop.
    """
    if not is_async:
        return _mark(fn, CallStyle.SYNC)

    async def call_async(**kwargs: Any) -> Any:
        return fn(**kwargs)

    return _mark(call_async, CallStyle.AWAIT)


def constant(value: Any) -> Callable[[], Any]:
    """A callable without parameters that returns ``value``."""

    def const() -> Any:
        return value

    return _mark(const, CallStyle.SYNC)


# A compiled binding: (parameter, how, payload) per parameter of the wrapped callable.
_FROM, _LITERAL, _LIST, _DICT = range(4)
Plan = tuple[tuple[str, int, Any], ...]


def _member(spec: Any) -> tuple[bool, Any]:
    if isinstance(spec, UpstreamDependency):
        return True, spec.source
    return False, spec.value


def _compile(params: tuple[str, ...], plan: Mapping[str, ParametrizedDependency]) -> Plan:
    out: list[tuple[str, int, Any]] = []
    for param in params:
        spec = plan.get(param)
        if spec is None:
            out.append((param, _FROM, param))
        elif isinstance(spec, UpstreamDependency):
            out.append((param, _FROM, spec.source))
        elif isinstance(spec, LiteralDependency):
            out.append((param, _LITERAL, spec.value))
        elif isinstance(spec, GroupedListDependency):
            out.append((param, _LIST, tuple(_member(m) for m in spec.sources)))
        elif isinstance(spec, GroupedDictDependency):
            out.append((param, _DICT, tuple((k, *_member(m)) for k, m in spec.sources)))
        else:
            raise TypeError(f"cannot bind parameter {param!r} to {spec!r}")
    return tuple(out)


def _bind(plan: Plan, kwargs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for param, how, payload in plan:
        if how == _FROM:
            if payload in kwargs:  # absent only for an optional dependency: keep the default
                out[param] = kwargs[payload]
        elif how == _LITERAL:
            out[param] = payload
        elif how == _LIST:
            out[param] = [kwargs[x] if is_source else x for is_source, x in payload]
        else:
            out[param] = {k: (kwargs[x] if is_source else x) for k, is_source, x in payload}
    return out


def _add(deps: dict[str, Dependency], dep: Dependency) -> None:
    seen = deps.get(dep.name)
    if seen is None:
        deps[dep.name] = dep
    elif dep.required and not seen.required:
        deps[dep.name] = Dependency(seen.name, seen.type, seen.kind, required=True)


def rebind(node: Node, plan: Mapping[str, ParametrizedDependency]) -> Node:
    """``node`` with some parameters fed from other nodes, literals or groups.

    ``plan`` maps a dependency name of ``node`` to where its value now comes from; the other
    dependencies are kept. Raises ``TypeError`` when a group does not fit its annotation.
    """
    if all(
        isinstance(spec, UpstreamDependency) and spec.source == name for name, spec in plan.items()
    ):
        return node
    deps: dict[str, Dependency] = {}
    for dep in node.dependencies:
        spec = plan.get(dep.name)
        if spec is None:
            _add(deps, dep)
        elif isinstance(spec, UpstreamDependency):
            _add(deps, Dependency(spec.source, dep.type, dep.kind, dep.required))
        elif isinstance(spec, (GroupedListDependency, GroupedDictDependency)):
            member_type = group_member_type(dep.type, spec)
            members = (
                spec.sources if isinstance(spec, GroupedListDependency) else spec.as_dict().values()
            )
            for member in members:
                if isinstance(member, UpstreamDependency):
                    _add(deps, Dependency(member.source, member_type, DepKind.VALUE, True))
        elif not isinstance(spec, LiteralDependency):
            raise TypeError(f"cannot bind parameter {dep.name!r} to {spec!r}")
    compiled = _compile(node.dependency_names, plan)
    callable_ = adapt(node.callable, call_style(node), functools.partial(_bind, compiled))
    return node.copy_with(callable=callable_, dependencies=tuple(deps.values()))
