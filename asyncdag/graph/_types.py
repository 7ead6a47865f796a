"""Whether a producer's declared type fits a consumer's parameter, and input value checks.

The check is deliberately lenient where Python's typing has no runtime answer: ``Any``,
type variables, unresolved strings, protocols and parameterized generics compare by their
origin class only. It is strict where a mistake is plain: two unrelated classes.
"""

from __future__ import annotations

import numbers
import types
import typing
from typing import Any, get_args, get_origin

__all__ = ["describe", "types_compatible", "value_fits"]

_UNION_TYPES: tuple[Any, ...] = (typing.Union, types.UnionType)


def _strip(tp: Any) -> Any:
    """Drop ``Annotated`` and ``NewType`` wrappers."""
    while True:
        if get_origin(tp) is typing.Annotated:
            tp = get_args(tp)[0]
        elif hasattr(tp, "__supertype__"):
            tp = tp.__supertype__
        else:
            return tp


def _is_open(tp: Any) -> bool:
    return tp is Any or tp is object or isinstance(tp, (typing.TypeVar, str, typing.ForwardRef))


def _class_of(tp: Any) -> type | None:
    origin = get_origin(tp) or tp
    if isinstance(origin, type):
        return origin
    return None


_CONTAINERS = (list, set, frozenset, dict, tuple)


def types_compatible(produced: Any, required: Any) -> bool:
    """True when a value declared as ``produced`` may be passed where ``required`` is declared."""
    produced, required = _strip(produced), _strip(required)
    if produced is None:
        produced = type(None)
    if required is None:
        required = type(None)
    if _is_open(produced) or _is_open(required) or produced == required:
        return True
    if get_origin(required) in _UNION_TYPES:
        if get_origin(produced) in _UNION_TYPES:
            return all(
                any(types_compatible(p, r) for r in get_args(required)) for p in get_args(produced)
            )
        return any(types_compatible(produced, r) for r in get_args(required))
    if get_origin(produced) in _UNION_TYPES:
        # Optional[X] into X and similar: accept when any member fits; the value decides.
        return any(types_compatible(p, required) for p in get_args(produced))
    if get_origin(required) is typing.Literal or get_origin(produced) is typing.Literal:
        return True
    p_cls, r_cls = _class_of(produced), _class_of(required)
    if p_cls is None or r_cls is None:
        return True
    if getattr(r_cls, "_is_protocol", False):
        return True
    if (r_cls is float and p_cls is int) or (r_cls is complex and p_cls in (int, float)):
        return True
    try:
        fits = issubclass(p_cls, r_cls)
    except TypeError:
        return True
    if fits and r_cls in _CONTAINERS:
        # list[int] into list[str] is plain wrong; compare item types where both are given
        p_args, r_args = get_args(produced), get_args(required)
        if p_args and r_args and len(p_args) == len(r_args) and Ellipsis not in r_args:
            return all(types_compatible(p, r) for p, r in zip(p_args, r_args, strict=True))
    return fits


def value_fits(value: Any, required: Any) -> bool:
    """True when a run-time input ``value`` fits the declared type ``required``."""
    required = _strip(required)
    if _is_open(required):
        return True
    if get_origin(required) in _UNION_TYPES:
        return any(value_fits(value, r) for r in get_args(required))
    if required is None or required is type(None):
        return value is None
    cls = _class_of(required)
    if cls is None or getattr(cls, "_is_protocol", False):
        return True
    if cls is float and isinstance(value, numbers.Real):
        return True
    if cls is complex and isinstance(value, numbers.Number):
        return True
    try:
        return isinstance(value, cls)
    except TypeError:
        return True


def describe(tp: Any) -> str:
    """A short readable name for a type."""
    if isinstance(tp, type) and not get_args(tp):
        return tp.__qualname__
    return repr(tp).replace("typing.", "")
