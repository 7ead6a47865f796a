"""The protocol between the engine and a cache that sits on a node call's route.

A cache puts a wrapper in a node function's place (``LifecycleHooks.wrap_node``); the wrapper
works wherever the node runs, but each call through it costs frames of its own, and a
``CallInfo`` made only so that the wrapper can learn which item it serves. A cache may
therefore hang a :class:`Memo` on its wrapper (the attribute ``__asyncdag_memo__``, whose
``wrapper`` is that wrapper itself). Where the engine calls a node on the loop or on a thread
of the run, it then calls the memo around the node's own function instead:

1. ``look(run, index, kwargs)`` -> ``(key, found)``: ``found`` is the value of a hit, or
   :data:`MISS` (call ``fn`` yourself, then ``keep`` its value under ``key``), or
   :data:`SLOW` (this call needs what only the wrapper does: call the wrapper, with a
   ``CallInfo`` current);
2. after a miss, ``keep(run, index, key, value)``; it returns whether the caller must wait
   for the store before it goes on (``await settle()``, or ``settle_sync()`` on a thread);
   a failure of ``fn`` is reported with ``failed(run, index, key, error)`` and then raised
   as usual.

For the items of an expansion whose block is the node alone, reading only its item (the
engine's lone route), the engine first asks ``items(run, parent, keyword)`` once: an
:class:`ItemMemo` whose ``look(i, item)`` / ``keep(i, key, value)`` / ``failed(i, key,
error)`` answer for item ``i`` (index path ``parent + (i,)``) as the memo's own do, with
nothing to find out again per item; the engine calls its ``close()`` once the expansion's
items are all done (before whatever reads them runs) and when the run ends, however it
ended. ``None``: the engine uses ``look`` and ``keep``.

``look`` and ``keep`` never block and never suspend. ``index`` is the item's index path
(``()`` outside blocks). The engine never looks at keys or values: what a hit or a miss means
is the cache's business alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from asyncdag._calls import RunInfo

__all__ = ["MISS", "SLOW", "ItemMemo", "Memo", "memo_of"]


class _Sentinel:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: ``look`` found nothing: the caller calls ``fn`` and hands its value to ``keep``
MISS: Any = _Sentinel("MISS")
#: ``look`` cannot answer at once: the caller calls the wrapper instead
SLOW: Any = _Sentinel("SLOW")


class ItemMemo(Protocol):
    def look(self, i: int, item: Any) -> tuple[Any, Any]: ...

    def keep(self, i: int, key: Any, value: Any) -> bool: ...

    def failed(self, i: int, key: Any, error: Exception) -> None: ...

    def close(self) -> None: ...


class Memo(Protocol):
    #: the cache's wrapper, which this memo may stand in for
    wrapper: Callable[..., Any]
    #: the function the cache sits in front of (what a miss calls)
    fn: Callable[..., Any]

    def look(
        self, run: RunInfo, index: tuple[int, ...], kwargs: dict[str, Any]
    ) -> tuple[Any, Any]: ...

    def keep(self, run: RunInfo, index: tuple[int, ...], key: Any, value: Any) -> bool: ...

    def failed(self, run: RunInfo, index: tuple[int, ...], key: Any, error: Exception) -> None: ...

    def items(self, run: RunInfo, parent: tuple[int, ...], keyword: str) -> ItemMemo | None: ...

    async def settle(self) -> None: ...

    def settle_sync(self) -> None: ...


def memo_of(fn: Callable[..., Any]) -> Memo | None:
    """The memo that may stand in for the wrapper ``fn``, if it has one.

    ``functools.wraps`` copies a function's attributes to whatever wraps it, so another
    wrapper around the cache's carries its memo too: only the wrapper it names counts.
    """
    memo: Memo | None = getattr(fn, "__asyncdag_memo__", None)
    if memo is None or memo.wrapper is not fn:
        return None
    return memo
