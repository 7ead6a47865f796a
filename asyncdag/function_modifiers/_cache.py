"""``@cache(behavior=..., format=...)``: how the cache treats a node, set where it is defined."""

from __future__ import annotations

from typing import Any, ClassVar

from asyncdag.caching import _formats
from asyncdag.caching._behavior import BEHAVIOR_KEY, CACHE_BEHAVIORS, FORMAT_KEY, CachingBehavior
from asyncdag.function_modifiers._base import BuildContext, NodeDecorator, TargetType, invalid
from asyncdag.graph._node import Node

__all__ = ["cache"]


class cache(NodeDecorator):
    """The caching behaviour and result format of the function's nodes (Hamilton's decorator).

    ``behavior``: ``"default"``, ``"recompute"`` (always run; store the result), ``"disable"``
    (as if there were no cache; its dependents miss) or ``"ignore"`` (not cached, and left out
    of its dependents' keys: clients, connections). ``with_cache(...)`` lists win over it.
    ``format``: ``"pickle"`` (default), ``"json"``, or for pandas DataFrames ``"csv"``,
    ``"parquet"``, ``"feather"``, ``"orc"`` (pyarrow) and ``"excel"`` (openpyxl); such results
    are files under the cache path that other tools can read. ``target_`` picks nodes of a
    function that defines several (default: all).

    Example::

        @cache(behavior="recompute")
        def raw_data(path: str) -> pd.DataFrame:
            return pd.read_csv(path)

        @cache(format="parquet")
        def clean(raw_data: pd.DataFrame) -> pd.DataFrame: ...
    """

    BEHAVIOR_KEY: ClassVar[str] = BEHAVIOR_KEY
    FORMAT_KEY: ClassVar[str] = FORMAT_KEY

    def __init__(
        self,
        *,
        behavior: CACHE_BEHAVIORS | None = None,
        format: str | None = None,
        target_: TargetType = ...,
    ) -> None:
        super().__init__(target=target_)
        self.cache_tags: dict[str, Any] = {}
        if behavior is not None:
            try:
                CachingBehavior.from_string(behavior)
            except KeyError as exc:
                raise invalid("cache", None, str(exc.args[0])) from None
            self.cache_tags[BEHAVIOR_KEY] = behavior.lower()
        if format is not None:
            problem = _formats.check_format(format)
            if problem is not None:
                raise invalid("cache", None, problem)
            self.cache_tags[FORMAT_KEY] = format

    def decorate_node(self, node: Node, ctx: BuildContext) -> Node:
        return node.copy_with(tags={**node.tags, **self.cache_tags})
