"""The frontier of an expansion fed by its own block (``htypes.Frontier``): what is new.

A :class:`Frontier` belongs to one expansion (``_fanout``), on its loop. It decides which
items are new (a key seen once), how deep each is (seeds at 0, an item found by an item of
depth ``d`` at ``d + 1``), whether it is within the bounds (``max_depth``, ``max_items``), and
queues what waits to be dispatched, in its order: the one found first (``"breadth"``) or the
deepest one (``"depth"``, a heap of (-depth, arrival); the one found first among equals).
It owns no task: the expansion's drive loop takes items
from :meth:`take` after the seeds, and the expansion feeds it in ``child_finished``.

An item beyond a bound is not recorded as seen (a later, shallower path to it still counts).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from asyncdag._sync import Signal
from asyncdag.htypes import Frontier as FrontierSpec

__all__ = ["Frontier"]


def _same(item: Any) -> Hashable:
    return item  # type: ignore[no-any-return]


class Frontier:
    """Seen keys, depths and the queue of one expansion's discovered items."""

    __slots__ = (
        "_arrived",
        "_deepest",
        "_depths",
        "_key",
        "_queue",
        "_seen",
        "accepted",
        "max_depth",
        "max_items",
        "wake",
    )

    def __init__(
        self,
        key: Callable[[Any], Hashable] | None = None,
        max_depth: int | None = None,
        max_items: int | None = None,
        order: str = "breadth",
    ) -> None:
        self._key = key or _same
        self.max_depth = max_depth
        self.max_items = max_items
        self._seen: set[Hashable] = set()
        self._queue: deque[tuple[Any, int]] = deque()  # "breadth": (item, depth)
        #: "depth": a heap of (-depth, arrival, item); None for "breadth"
        self._deepest: list[tuple[int, int, Any]] | None = [] if order == "depth" else None
        self._arrived = 0
        self._depths: dict[int, int] = {}  # item number -> depth, while the item is out
        self.accepted = 0
        #: set when an item is queued or an item comes back (the drive loop waits on it)
        self.wake = Signal()

    @classmethod
    def of(cls, source: Any) -> tuple[Frontier, Any]:
        """The frontier for what a Frontier expander returned, and its seeds."""
        if isinstance(source, FrontierSpec):
            return (
                cls(source.key, source.max_depth, source.max_items, source.order),
                source.seeds,
            )
        return cls(), source

    def accept(self, item: Any, depth: int) -> bool:
        """Whether ``item`` at ``depth`` is new and within the bounds (then it is seen)."""
        if self.max_depth is not None and depth > self.max_depth:
            return False
        if self.max_items is not None and self.accepted >= self.max_items:
            return False
        try:
            key = self._key(item)
            if key in self._seen:
                return False
            self._seen.add(key)
        except TypeError as exc:
            raise TypeError(
                f"a Frontier item must be hashable, or the Frontier needs key=...: {exc}"
            ) from exc
        self.accepted += 1
        return True

    def started(self, number: int, depth: int) -> None:
        """Item ``number`` (of the expansion) went out at ``depth``."""
        self._depths[number] = depth

    def feed(self, number: int, found: Iterable[Any] | None) -> None:
        """Item ``number`` came back having found ``found`` (None: it found nothing, or it
        ended by an error policy)."""
        depth = self._depths.pop(number, 0) + 1
        if found is not None:
            deepest = self._deepest
            for item in found:
                if not self.accept(item, depth):
                    continue
                if deepest is None:
                    self._queue.append((item, depth))
                else:
                    heapq.heappush(deepest, (-depth, self._arrived, item))
                    self._arrived += 1
        self.wake.set()

    def take(self) -> tuple[Any, int] | None:
        """The next discovered item and its depth, if one waits."""
        deepest = self._deepest
        if deepest is None:
            return self._queue.popleft() if self._queue else None
        if not deepest:
            return None
        negative, _, item = heapq.heappop(deepest)
        return item, -negative

    @property
    def waiting(self) -> int:
        return len(self._queue) if self._deepest is None else len(self._deepest)
