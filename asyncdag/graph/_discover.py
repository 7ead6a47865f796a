"""Which functions of a module become nodes: the one rule shared by the graph and ``@subdag``."""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from typing import Any

__all__ = ["module_functions"]


def module_functions(module: types.ModuleType) -> list[tuple[str, Callable[..., Any]]]:
    """The functions a module defines itself, in definition order, without ``_private`` ones."""
    found: list[tuple[str, Callable[..., Any]]] = []
    for name, obj in vars(module).items():
        if name.startswith("_") or not inspect.isfunction(obj):
            continue
        if getattr(obj, "__module__", None) != module.__name__:
            continue  # imported from elsewhere
        found.append((name, obj))
    return found
