"""Turns a module's functions into nodes, applying function modifiers and config."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from asyncdag.graph._node import Node, node_from_function


def nodes_for_functions(
    functions: Sequence[tuple[str, Callable[..., Any]]], config: Mapping[str, Any]
) -> list[Node]:
    """The nodes that ``functions`` (name, function pairs of one module) define under ``config``."""
    return [node_from_function(fn, name) for name, fn in functions]
