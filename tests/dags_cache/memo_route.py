"""A block of a sync and an async node, with nodes outside it of both kinds: every place the
engine calls a cached node itself (see ``asyncdag._memo``)."""

from __future__ import annotations

from collections import Counter

from asyncdag.htypes import Collect, ItemFailure, Parallelizable
from asyncdag.policies import on_error

#: calls of the nodes whose failures are data, by node
CALLS: Counter[str] = Counter()


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


@on_error("deliver")
async def guarded(item: int, bad: int) -> int:  # its failure is data: stored, raised again
    CALLS["guarded"] += 1
    if item == bad:
        raise ValueError(f"item {item} is bad")
    return item * 10


def other(n: int) -> Parallelizable[int]:  # a block of its own: a failing item ends its block
    yield from range(n)


@on_error("deliver")
def guarded_sync(other: int, bad: int) -> list[int]:  # a pickled result
    CALLS["guarded_sync"] += 1
    if other == bad:
        raise ValueError(f"item {other} is bad")
    return [other]


def outcomes(guarded: Collect[int], guarded_sync: Collect[list[int]]) -> list[str]:
    return [
        f"{type(x.error).__name__}: {x.error}" if isinstance(x, ItemFailure) else repr(x)
        for x in [*guarded, *guarded_sync]
    ]
