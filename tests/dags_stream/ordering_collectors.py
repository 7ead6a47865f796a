"""Every way of collecting ``finished``: list, stream in yield order (async and sync),
stream in completion order."""

from __future__ import annotations

from asyncdag.htypes import Collect, CollectAsCompleted, CollectStream


def in_yield_order(finished: Collect[int]) -> list[int]:
    return list(finished)


async def streamed(finished: CollectStream[int]) -> list[int]:
    return [value async for value in finished]


def streamed_sync(finished: CollectStream[int]) -> list[int]:
    return [value for value in finished]


async def as_completed(finished: CollectAsCompleted[int]) -> list[int]:
    return [value async for value in finished]


def as_completed_sync(finished: CollectAsCompleted[int]) -> list[int]:
    return list(finished)


def _reference(n: int, completion_order: list[int]) -> dict[str, object]:
    in_order = [i * 10 for i in range(n)]
    return {
        "finished": in_order,
        "in_yield_order": in_order,
        "streamed": in_order,
        "streamed_sync": in_order,
        "as_completed": [i * 10 for i in completion_order],
    }
