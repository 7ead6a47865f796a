"""Where a parameter's value comes from: ``source``, ``value``, ``group`` and ``configuration``.

These are the vocabulary of ``parameterize``, ``inject``, ``step`` and ``subdag``::

    @inject(nums=group(source("a"), value(10)))
    def total(nums: list[int]) -> int:
        return sum(nums)
"""

from __future__ import annotations

import collections.abc
import types
import typing
from dataclasses import dataclass
from typing import Any, get_args, get_origin

from asyncdag.function_modifiers._base import invalid

__all__ = [
    "ConfigDependency",
    "GroupedDependency",
    "GroupedDictDependency",
    "GroupedListDependency",
    "LiteralDependency",
    "ParametrizedDependency",
    "SingleDependency",
    "UpstreamDependency",
    "configuration",
    "group",
    "group_member_type",
    "source",
    "value",
]


class ParametrizedDependency:
    """Base of every dependency specification."""


class SingleDependency(ParametrizedDependency):
    """A specification that provides one value."""


@dataclass(frozen=True)
class LiteralDependency(SingleDependency):
    """A fixed value, fixed at decoration time."""

    value: Any


@dataclass(frozen=True)
class UpstreamDependency(SingleDependency):
    """The value of another node (or input) named ``source``."""

    source: str


@dataclass(frozen=True)
class ConfigDependency(SingleDependency):
    """The value of the config key ``source``, read at build time."""

    source: str


class GroupedDependency(ParametrizedDependency):
    """Several specifications gathered into one list or dict parameter."""


@dataclass(frozen=True)
class GroupedListDependency(GroupedDependency):
    """A list parameter: one value per member, in order."""

    sources: tuple[SingleDependency, ...]


@dataclass(frozen=True)
class GroupedDictDependency(GroupedDependency):
    """A ``dict[str, T]`` parameter: one value per key."""

    sources: tuple[tuple[str, SingleDependency], ...]

    def as_dict(self) -> dict[str, SingleDependency]:
        return dict(self.sources)


def value(literal_value: Any) -> LiteralDependency:
    """The parameter receives ``literal_value`` itself.

    Example: ``@parameterize(ten={"n": value(10)})``.
    """
    if isinstance(literal_value, LiteralDependency):
        return literal_value
    return LiteralDependency(literal_value)


def source(dependency_on: Any) -> UpstreamDependency:
    """The parameter receives the value of the node (or input) named ``dependency_on``.

    Example: ``@parameterize(b_doubled={"x": source("b")})``.
    """
    if isinstance(dependency_on, UpstreamDependency):
        return dependency_on
    if not isinstance(dependency_on, str):
        raise invalid("source", None, f"expects a node name, got {dependency_on!r}")
    return UpstreamDependency(dependency_on)


def configuration(dependency_on: str) -> ConfigDependency:
    """The parameter receives the config value under key ``dependency_on`` (read at build).

    Example: ``@subdag(features, config={"region": configuration("main_region")})``.
    """
    return ConfigDependency(dependency_on)


def group(*dependency_args: Any, **dependency_kwargs: Any) -> GroupedDependency:
    """Gather several ``source``/``value`` specifications into one list (or dict) parameter.

    ``group(source("a"), value(1))`` gives a list, ``group(x=source("a"))`` a dict.

    Example::

        @inject(parts=group(source("head"), source("tail")))
        def joined(parts: list[str]) -> str:
            return "".join(parts)
    """
    if dependency_args and dependency_kwargs:
        raise invalid("group", None, "takes either positional or keyword members, not both")
    if not dependency_args and not dependency_kwargs:
        raise invalid("group", None, "needs at least one source(...) or value(...) member")
    members = list(dependency_args) + list(dependency_kwargs.values())
    bad = [m for m in members if not isinstance(m, (LiteralDependency, UpstreamDependency))]
    if bad:
        raise invalid("group", None, f"members must be source(...) or value(...), got {bad!r}")
    if dependency_args:
        return GroupedListDependency(tuple(dependency_args))
    return GroupedDictDependency(tuple(dependency_kwargs.items()))


_SEQUENCE_ORIGINS = (
    list,
    tuple,
    collections.abc.Sequence,
    collections.abc.Collection,
    collections.abc.Iterable,
)


def _strip_optional(annotation: Any) -> Any:
    args = get_args(annotation)
    if get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def group_member_type(annotation: Any, spec: GroupedDependency) -> Any:
    """The type of one member of a grouped parameter, or raise ``TypeError`` saying why not.

    ``list[int]`` (or ``Sequence[int]``) gives ``int`` for a list group; ``dict[str, int]``
    gives ``int`` for a dict group. An unannotated (``Any``) parameter gives ``Any``.
    """
    annotation = _strip_optional(annotation)
    if annotation is Any:
        return Any
    origin = get_origin(annotation) or annotation
    args = get_args(annotation)
    if isinstance(spec, GroupedListDependency):
        if origin not in _SEQUENCE_ORIGINS:
            raise TypeError(f"group(...) of a list needs a list[T] annotation, not {annotation}")
        if origin is tuple:
            return args[0] if len(args) == 2 and args[1] is Ellipsis else Any
        return args[0] if args else Any
    if origin not in (dict, collections.abc.Mapping):
        raise TypeError(f"group(key=...) needs a dict[str, T] annotation, not {annotation}")
    if args and args[0] is not str:
        raise TypeError(f"group(key=...) needs str keys, but the annotation is {annotation}")
    return args[1] if len(args) == 2 else Any
