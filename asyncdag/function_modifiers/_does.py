"""``@does``: an empty function whose node runs another function.

The decorated function gives the node's name, parameters, types and docstring; its body must
be only ``pass`` (or ``...``) and a docstring::

    def _sum(**values: int) -> int:
        return sum(values.values())

    @does(_sum)
    def total(a: int, b: int) -> int:
        '''a + b'''
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from asyncdag.function_modifiers._base import BuildContext, Creator
from asyncdag.function_modifiers._wrap import CallStyle, adapt, function_style
from asyncdag.graph._node import Node, Role, node_from_function

__all__ = ["does"]


def _empty() -> None:
    pass


def _empty_documented() -> None:
    """A docstring."""


_EMPTY_BODIES = frozenset({_empty.__code__.co_code, _empty_documented.__code__.co_code})


def _is_empty(fn: Callable[..., Any]) -> bool:
    code = getattr(inspect.unwrap(fn), "__code__", None)
    return code is not None and code.co_code in _EMPTY_BODIES


def _replacing_kwargs(
    kwargs: Mapping[str, Any], defaults: Mapping[str, Any], mapping: Mapping[str, str]
) -> dict[str, Any]:
    """The decorated function's arguments as the replacing function's keywords."""
    values = {**defaults, **kwargs}
    out = dict(values)
    renamed = set(mapping.values())
    for replacing_param, original_param in mapping.items():
        if original_param in values:
            out[replacing_param] = values[original_param]
    for original_param in renamed - set(mapping):
        out.pop(original_param, None)
    return out


class does(Creator):
    """Run ``replacing_function`` for the decorated (empty) function.

    ``argument_mapping`` renames parameters: ``replacing_param="decorated_param"``.

    Example::

        @does(_scale, factor="multiplier")
        def doubled(value: float, multiplier: float = 2.0) -> float:
            pass
    """

    def __init__(self, replacing_function: Callable[..., Any], **argument_mapping: str) -> None:
        self.replacing_function = replacing_function
        self.argument_mapping = dict(argument_mapping)

    def create(self, ctx: BuildContext) -> list[Node]:
        fn = ctx.fn
        if not _is_empty(fn):
            raise self.error(
                ctx, "the decorated function must be empty: only a docstring and 'pass'"
            )
        signature = inspect.signature(fn)
        defaults = {
            name: p.default
            for name, p in signature.parameters.items()
            if p.default is not inspect.Parameter.empty
        }
        dummy = _replacing_kwargs(
            dict.fromkeys(signature.parameters, ...), {}, self.argument_mapping
        )
        try:
            inspect.signature(self.replacing_function).bind(**dummy)
        except TypeError as exc:
            raise self.error(
                ctx,
                f"{getattr(self.replacing_function, '__name__', self.replacing_function)!r}"
                f" cannot be called with the parameters {list(dummy)} ({exc}); adjust its"
                f" signature or the argument mapping {self.argument_mapping}",
            ) from None
        node = node_from_function(fn, ctx.name)
        style = function_style(self.replacing_function)
        if style is CallStyle.SYNC_GEN and node.role is not Role.EXPAND:
            style = CallStyle.SYNC  # a generator as a plain value, not a fan-out
        mapping = self.argument_mapping

        def translate(kwargs: dict[str, Any]) -> dict[str, Any]:
            return _replacing_kwargs(kwargs, defaults, mapping)

        return [
            node.copy_with(
                callable=adapt(self.replacing_function, style, translate),
                is_async=style.is_async,
            )
        ]
