"""``@config.when*``: a function is in the graph only under some config values.

Several functions may define the same node for different configs; the part of a function's name
after its last double underscore is dropped, so ``total__fast`` and ``total__exact`` both define
``total``::

    @config.when(mode="fast")
    def total__fast(rows: list[int]) -> int: ...

    @config.when_not(mode="fast")
    def total__exact(rows: list[int]) -> int: ...
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from asyncdag.function_modifiers._base import BuildContext, Resolver

__all__ = ["config", "exclude", "hamilton_exclude", "node_name_for"]


def node_name_for(function_name: str) -> str:
    """The node name of a config-selected function: ``total__fast`` gives ``total``."""
    cut = function_name.rfind("__")
    return function_name[:cut] if cut > 0 else function_name


class config(Resolver):
    """Keep the decorated function only when ``resolves(config)`` is true.

    Use the constructors :meth:`when`, :meth:`when_not`, :meth:`when_in` and
    :meth:`when_not_in`; ``config(predicate)`` with a function of the whole config is the escape
    hatch. Stacked ``@config`` decorators must all hold. A config key that is missing compares as
    ``None``.

    Example::

        @config.when_in(region=["eu", "uk"])
        def tax_rate__europe() -> float:
            return 0.2
    """

    def __init__(
        self,
        resolves: Callable[[Mapping[str, Any]], bool],
        target_name: str | None = None,
        config_used: list[str] | None = None,
    ) -> None:
        self.does_resolve = resolves
        self.target_name = target_name
        self.config_used = config_used

    @property
    def decorator_name(self) -> str:
        return "config"

    def resolve(self, ctx: BuildContext) -> str | None:
        if ctx.original_name.endswith("__"):
            raise self.error(
                ctx,
                "the function name ends with '__'; the node name is the part before the last"
                " '__' (total__v2 defines total), so add a suffix after it",
            )
        keys = self.config_used if self.config_used is not None else ["__UNKNOWN__"]
        ctx.config_keys.extend(k for k in keys if k not in ctx.config_keys)
        if not self.does_resolve(ctx.config):
            return None
        return self.target_name or node_name_for(ctx.original_name)

    @staticmethod
    def when(name: str | None = None, **key_value_pairs: Any) -> config:
        """Keep the function when every given config key equals its value.

        Example: ``@config.when(mode="fast")``.
        """
        items = tuple(key_value_pairs.items())

        def resolves(cfg: Mapping[str, Any]) -> bool:
            return all(cfg.get(key) == wanted for key, wanted in items)

        return config(resolves, target_name=name, config_used=list(key_value_pairs))

    @staticmethod
    def when_not(name: str | None = None, **key_value_pairs: Any) -> config:
        """Keep the function when no given config key equals its value.

        Example: ``@config.when_not(mode="fast")``.
        """
        items = tuple(key_value_pairs.items())

        def resolves(cfg: Mapping[str, Any]) -> bool:
            return all(cfg.get(key) != unwanted for key, unwanted in items)

        return config(resolves, target_name=name, config_used=list(key_value_pairs))

    @staticmethod
    def when_in(name: str | None = None, **key_value_group_pairs: Collection[Any]) -> config:
        """Keep the function when every given config key has one of the listed values.

        Example: ``@config.when_in(region=["eu", "uk"])``.
        """
        items = tuple(key_value_group_pairs.items())

        def resolves(cfg: Mapping[str, Any]) -> bool:
            return all(cfg.get(key) in allowed for key, allowed in items)

        return config(resolves, target_name=name, config_used=list(key_value_group_pairs))

    @staticmethod
    def when_not_in(name: str | None = None, **key_value_group_pairs: Collection[Any]) -> config:
        """Keep the function when no given config key has one of the listed values.

        Example: ``@config.when_not_in(region=["eu", "uk"])``.
        """
        items = tuple(key_value_group_pairs.items())

        def resolves(cfg: Mapping[str, Any]) -> bool:
            return all(cfg.get(key) not in excluded for key, excluded in items)

        return config(resolves, target_name=name, config_used=list(key_value_group_pairs))


class _Exclude(Resolver):
    """Leave the decorated function out of the graph: a helper, not a node.

    Example::

        @hamilton_exclude
        def helper(x: int) -> int:
            return x + 1
    """

    @property
    def decorator_name(self) -> str:
        return "hamilton_exclude"

    def resolve(self, ctx: BuildContext) -> str | None:
        return None


#: ``@hamilton_exclude`` (no parentheses): the function is a helper, not a node.
hamilton_exclude = _Exclude()
#: Same as :data:`hamilton_exclude`.
exclude = hamilton_exclude
