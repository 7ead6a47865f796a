"""``retry`` with ``on_error("skip")``, in both orders: item ``bad`` keeps failing and is
dropped; every other item fails once, is retried and collected."""

from __future__ import annotations

from collections import Counter

from asyncdag.htypes import Collect, Parallelizable
from asyncdag.policies import on_error, retry

ATTEMPTS: Counter[tuple[str, int]] = Counter()


def reset() -> None:
    ATTEMPTS.clear()


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


def _attempt(node: str, item: int, bad: int) -> int:
    ATTEMPTS[node, item] += 1
    if item == bad or ATTEMPTS[node, item] == 1:
        raise ConnectionError(f"item {item}")
    return item * 10


@on_error("skip")
@retry(3, backoff=0, on=(ConnectionError,))
async def afetched(item: int, bad: int) -> int:
    return _attempt("afetched", item, bad)


@retry(3, backoff=0, on=(ConnectionError,))
@on_error("skip")
def fetched(item: int, bad: int) -> int:
    return _attempt("fetched", item, bad)


def acollected(afetched: Collect[int]) -> list[int]:
    return list(afetched)


def collected(fetched: Collect[int]) -> list[int]:
    return list(fetched)
