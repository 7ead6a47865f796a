"""A sync node reading an async per-worker resource: an error that says what to change."""

from __future__ import annotations

from asyncdag.htypes import Collect, Parallelizable
from asyncdag.resources import per_worker


class Client:
    pass


@per_worker
async def client(label: str) -> Client:
    return Client()


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


def fetched(item: int, client: Client) -> int:
    return item


def total(fetched: Collect[int]) -> int:
    return sum(fetched)
