"""W5 per-item overhead for asyncdag: a trivial sync item function."""

from __future__ import annotations

from asyncdag.htypes import Collect, Parallelizable


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


def f(item: int) -> int:
    return item + 1


def total(f: Collect[int]) -> int:
    return sum(f)
