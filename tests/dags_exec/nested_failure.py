"""A failure two levels deep, inside a worker: ``leaf`` raises at item path ``fail_at``."""

from __future__ import annotations

from asyncdag.htypes import Collect, Parallelizable


class NestedBoom(ValueError):
    """Raised by ``leaf`` at ``fail_at``."""


def outer(n: int) -> Parallelizable[int]:
    yield from range(n)


def inner(outer: int) -> Parallelizable[int]:
    yield from range(outer + 1)


def leaf(inner: int, outer: int, fail_at: list[int]) -> int:
    if [outer, inner] == fail_at:
        raise NestedBoom(f"leaf {outer}/{inner}")
    return outer * 100 + inner


def inner_total(leaf: Collect[int]) -> int:
    return sum(leaf)


def total(inner_total: Collect[int]) -> int:
    return sum(inner_total)


def _reference(n: int) -> int:
    return sum(o * 100 + i for o in range(n) for i in range(o + 1))
