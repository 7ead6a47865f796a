"""Turns a module's functions into nodes, applying function modifiers and config."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from asyncdag.errors import InvalidDecoratorError
from asyncdag.function_modifiers._base import (
    BuildContext,
    Creator,
    Dynamic,
    Modifier,
    NodeSetModifier,
    Resolver,
    Stage,
    function_label,
    modifiers_of,
)
from asyncdag.graph._node import Node, node_from_function

__all__ = ["CONFIG_TAG", "default_node", "nodes_for_function", "nodes_for_functions"]

#: Tag on nodes of ``@config``-selected functions: the config keys that selected them.
CONFIG_TAG = "asyncdag.config"


def nodes_for_functions(
    functions: Sequence[tuple[str, Callable[..., Any]]], config: Mapping[str, Any]
) -> list[Node]:
    """The nodes that ``functions`` (name, function pairs of one module) define under ``config``."""
    nodes: list[Node] = []
    for name, fn in functions:
        nodes.extend(nodes_for_function(fn, config, name))
    return nodes


def nodes_for_function(
    fn: Callable[..., Any], config: Mapping[str, Any], name: str | None = None
) -> list[Node]:
    """The nodes one function defines under ``config``, after all of its modifiers."""
    ctx = BuildContext(fn=fn, original_name=name or fn.__name__, config=config)
    modifiers = modifiers_of(fn)
    static = [m for m in modifiers if not isinstance(m, Dynamic)]
    if not _run_resolvers(static, ctx):
        return []
    # Dynamic modifiers are staged only for functions that the config keeps.
    dynamic = [m.materialize(ctx) for m in modifiers if isinstance(m, Dynamic)]
    if not _run_resolvers(dynamic, ctx):
        return []
    active = static + dynamic
    creators = [m for m in active if isinstance(m, Creator)]
    if len(creators) > 1:
        names = ", ".join(f"@{c.decorator_name}" for c in creators)
        raise _conflict(fn, f"{names} each create the function's nodes; use only one of them")
    nodes = creators[0].create(ctx) if creators else [default_node(ctx)]
    expanders = [m for m in active if m.stage is Stage.EXPAND]
    if len(expanders) > 1:
        names = ", ".join(f"@{e.decorator_name}" for e in expanders)
        raise _conflict(fn, f"{names} each expand the function into nodes; use only one")
    for stage in (Stage.INJECT, Stage.EXPAND, Stage.TRANSFORM, Stage.DECORATE):
        for modifier in active:
            if modifier.stage is stage and isinstance(modifier, NodeSetModifier):
                nodes = modifier.apply(nodes, ctx)
    return [_with_origin(n, fn) for n in nodes]


def _run_resolvers(modifiers: list[Modifier], ctx: BuildContext) -> bool:
    for modifier in modifiers:
        if isinstance(modifier, Resolver):
            name = modifier.resolve(ctx)
            if name is None:
                return False
            ctx.name = name
    return True


def default_node(ctx: BuildContext) -> Node:
    """The plain node of the function under its resolved name, tagged with its config keys."""
    tags = {CONFIG_TAG: ",".join(ctx.config_keys)} if ctx.config_keys else None
    return node_from_function(ctx.fn, ctx.name, tags)


def _with_origin(node: Node, fn: Callable[..., Any]) -> Node:
    if node.originating_function is not None and node.module:
        return node
    return node.copy_with(
        originating_function=node.originating_function or fn,
        module=node.module or getattr(fn, "__module__", "") or "",
    )


def _conflict(fn: Callable[..., Any], message: str) -> InvalidDecoratorError:
    return InvalidDecoratorError(f"function {function_label(fn)}: {message}")
