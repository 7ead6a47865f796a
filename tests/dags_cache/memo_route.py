"""A block of a sync and an async node, with nodes outside it of both kinds: every place the
engine calls a cached node itself (see ``asyncdag._memo``)."""

from __future__ import annotations

from asyncdag.htypes import Collect, Parallelizable


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


def square(item: int) -> int:
    return item * item


async def shifted(square: int) -> int:
    return square + 1


def total(shifted: Collect[int]) -> int:
    return sum(shifted)


async def doubled(total: int) -> int:
    return 2 * total


def label(doubled: int, n: int) -> str:
    return f"{n}:{doubled}"


def pairs(item: int) -> tuple[int, int]:  # a result that is not a literal: pickled
    return (item, -item)


async def checked(item: int, bad: int) -> int:  # fails for one item
    if item == bad:
        raise ValueError(f"item {item} is bad")
    return item


def checked_sync(item: int, bad: int) -> int:
    if item == bad:
        raise ValueError(f"item {item} is bad")
    return item
