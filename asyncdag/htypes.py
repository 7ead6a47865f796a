"""Types that mark fan-out and fan-in in a dataflow.

- ``Parallelizable[T]`` as a return annotation makes a node an *expander*: the function is a
  generator (sync or async), or returns any iterable / async iterable, and each item it yields
  opens one instance of the downstream *block*.
- ``Collect[T]`` as a parameter annotation makes a node a *collector*: it receives the list of
  the block's values in yield order.
- ``CollectStream[T]`` and ``CollectAsCompleted[T]`` are streaming collectors: the parameter is
  an iterator (``async for`` in an ``async def`` collector, plain ``for`` in a sync one) that
  delivers values as they become available, in yield order or in completion order, so a
  reduction over any number of items holds only the expansion's window in memory.

Example::

    from asyncdag.htypes import Collect, Parallelizable

    def url() -> Parallelizable[str]:
        yield from ["a", "b"]

    def size(url: str) -> int:
        return len(url)

    def total(size: Collect[int]) -> int:
        return sum(size)
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, get_args, get_origin

__all__ = [
    "Collect",
    "CollectAsCompleted",
    "CollectStream",
    "Discovered",
    "Frontier",
    "ItemFailure",
    "Parallelizable",
    "is_collect",
    "is_discovered",
    "is_frontier",
    "is_parallelizable",
    "item_type",
]

_T = TypeVar("_T")
_T_co = TypeVar("_T_co", covariant=True)


class Parallelizable(Protocol[_T_co]):
    """Return annotation of an expander; ``T`` is the type of each yielded item.

    The protocol is deliberately empty, so that a sync generator, an async generator, a list
    or any async iterable all satisfy it for a type checker.
    """


class Frontier(Generic[_T]):
    """An expander fed by its own block: return annotation, and (optionally) return value.

    As the return annotation of an expander (``-> Frontier[str]``), it says that the block's
    node annotated ``-> Discovered[str]`` hands new items back to this expander: each one is
    yielded once (by ``key``), one level deeper than the item that found it, within
    ``max_depth``; the expansion ends when nothing is in flight and nothing waits. The
    expander yields (or returns) the seeds, at depth 0; to set the bounds from inputs,
    return ``Frontier(seeds, key=..., max_depth=..., max_items=..., order=...)``.

    ``order`` says which waiting item goes out next once the seeds are out: ``"breadth"``
    (the default) the one found first, so the crawl goes level by level and a bound on
    ``max_items`` keeps the items nearest the seeds; ``"depth"`` the deepest one (the one
    found first among equals), so a long chain of items, each found by the one before,
    advances while the rest waits instead of one link per level: a crawl whose graph has
    deep chains ends sooner. Either way an item's depth is that of the first path that
    reached it, which with many items in flight need not be the shortest.

    Example (a link-following crawl)::

        def url(root: str, depth: int) -> Frontier[str]:
            return Frontier([root], key=normalize, max_depth=depth)

        async def page(url: str) -> str: ...

        def links(page: str, url: str) -> Discovered[str]:
            return same_origin_links(page, url)

        def pages(page: Collect[str]) -> int:   # every page once, seeds and found alike
            return len(page)
    """

    __slots__ = ("key", "max_depth", "max_items", "order", "seeds")

    ORDERS = ("breadth", "depth")

    def __init__(
        self,
        seeds: Any,
        *,
        key: Any = None,
        max_depth: int | None = None,
        max_items: int | None = None,
        order: str = "breadth",
    ) -> None:
        if max_depth is not None and max_depth < 0:
            raise ValueError(f"max_depth must be at least 0, got {max_depth}")
        if max_items is not None and max_items < 0:
            raise ValueError(f"max_items must be at least 0, got {max_items}")
        if order not in self.ORDERS:
            raise ValueError(f"order must be 'breadth' or 'depth', got {order!r}")
        self.seeds = seeds
        self.key = key
        self.max_depth = max_depth
        self.max_items = max_items
        self.order = order

    def __repr__(self) -> str:
        return (
            f"Frontier(max_depth={self.max_depth}, max_items={self.max_items},"
            f" order={self.order!r})"
        )


class Discovered(list[_T]):
    """Return annotation of the block node that feeds new items to its ``Frontier``
    expander; its value is any iterable of items (a list, a set, a generator)."""


class Collect(list[_T]):
    """Parameter annotation of a collector: the block's values as a list, in yield order."""


class CollectStream(abc.ABC, Generic[_T]):
    """Parameter annotation of a streaming collector, yield order.

    In an ``async def`` collector iterate it with ``async for``; in a sync collector (which
    then runs on a worker thread) iterate it with ``for``.
    """

    @abc.abstractmethod
    def __aiter__(self) -> AsyncIterator[_T]: ...

    @abc.abstractmethod
    def __iter__(self) -> Iterator[_T]: ...


class CollectAsCompleted(CollectStream[_T]):
    """Like :class:`CollectStream`, but values arrive in completion order."""


@dataclass(frozen=True)
class ItemFailure:
    """What a collector receives for an item whose node failed under ``on_error("deliver")``.

    ``node`` is the node that raised, ``index`` the item's index path, ``error`` the exception,
    ``policy`` the error policy that ended the item (``"deliver"`` or ``"skip"``) and ``label``
    the item's short label.
    """

    node: str
    index: tuple[int, ...]
    error: BaseException
    policy: str = "deliver"
    label: str | None = None


def is_parallelizable(annotation: Any) -> bool:
    """Whether ``annotation`` makes an expander: ``Parallelizable[...]`` or ``Frontier[...]``."""
    return (get_origin(annotation) or annotation) in (Parallelizable, Frontier)


def is_frontier(annotation: Any) -> bool:
    """Whether ``annotation`` is ``Frontier[...]`` (an expander fed by its block)."""
    return (get_origin(annotation) or annotation) is Frontier


def is_discovered(annotation: Any) -> bool:
    """Whether ``annotation`` is ``Discovered[...]`` (items for the block's Frontier)."""
    return (get_origin(annotation) or annotation) is Discovered


def is_collect(annotation: Any) -> bool:
    """Whether ``annotation`` is ``Collect[...]`` or one of the streaming collect types."""
    return _origin_is(annotation, Collect) or _origin_is(annotation, CollectStream)


def _origin_is(annotation: Any, cls: type) -> bool:
    candidate = get_origin(annotation) or annotation
    return isinstance(candidate, type) and issubclass(candidate, cls)


def item_type(annotation: Any) -> Any:
    """The ``T`` of ``Parallelizable[_T]`` / ``Collect[_T]``; ``Any`` when not given."""
    args = get_args(annotation)
    return args[0] if args else Any
