"""W1 for asyncdag with a sync item function (the same DAG Hamilton runs)."""

from __future__ import annotations

from asyncdag.htypes import Collect, Parallelizable


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


def f(item: int) -> int:
    return item + 1


def total(f: Collect[int]) -> int:
    return sum(f)
