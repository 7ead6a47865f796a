"""Streaming collectors that stop early or never iterate, next to a list collector of the same
expansion (which must still receive every item)."""

from __future__ import annotations

from asyncdag.htypes import Collect, CollectStream, Parallelizable


def items(n: int) -> Parallelizable[int]:
    yield from range(n)


def value(items: int) -> int:
    return items


async def first_three(value: CollectStream[int]) -> list[int]:
    taken = []
    async for v in value:
        taken.append(v)
        if len(taken) == 3:
            break
    return taken


def first_three_sync(value: CollectStream[int]) -> list[int]:
    taken = []
    for v in value:
        taken.append(v)
        if len(taken) == 3:
            break
    return taken


def never_iterates(value: CollectStream[int]) -> int:
    return -1


async def fails_at_five(value: CollectStream[int]) -> int:
    async for v in value:
        if v == 5:
            raise KeyError("five")
    return 0


def fails_at_five_sync(value: CollectStream[int]) -> int:
    for v in value:
        if v == 5:
            raise KeyError("five")
    return 0


def everything(value: Collect[int]) -> int:
    return sum(value)


def _reference(n: int) -> dict[str, object]:
    return {
        "first_three": list(range(min(n, 3))),
        "first_three_sync": list(range(min(n, 3))),
        "never_iterates": -1,
        "everything": sum(range(n)),
    }
