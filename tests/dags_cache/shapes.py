"""Test DAGs for the cache: a static diamond, a block with an async expander, nested blocks,
a streaming collector, failures that are data. Every node counts its calls in ``CALLS``
(in-process runs only); ``_reference_*`` functions compute the expected results by hand."""

from __future__ import annotations

from collections import Counter

from asyncdag.function_modifiers import cache
from asyncdag.htypes import Collect, CollectStream, Parallelizable
from asyncdag.policies import on_error

CALLS: Counter[str] = Counter()


def base(x: int) -> int:
    CALLS["base"] += 1
    return x * 10


def left(base: int) -> int:
    CALLS["left"] += 1
    return base + 1


async def right(base: int, scale: int = 2) -> int:
    CALLS["right"] += 1
    return base * scale


def joined(left: int, right: int) -> dict[str, int]:
    CALLS["joined"] += 1
    return {"left": left, "right": right}


async def words(text: str) -> Parallelizable[str]:
    CALLS["words"] += 1
    for word in text.split():
        yield word


def length(words: str) -> int:
    CALLS["length"] += 1
    return len(words)


async def shout(words: str, length: int) -> str:
    CALLS["shout"] += 1
    return words.upper() * (length % 3 + 1)


def lengths(length: Collect[int]) -> list[int]:
    CALLS["lengths"] += 1
    return list(length)


async def streamed(shout: CollectStream[str]) -> int:
    CALLS["streamed"] += 1
    n = 0
    async for _ in shout:
        n += 1
    return n


def _reference_lengths(text: str) -> list[int]:
    return [len(w) for w in text.split()]


# nested blocks: rows of cells


def row(rows: list[list[int]]) -> Parallelizable[list[int]]:
    CALLS["row"] += 1
    yield from rows


def cell(row: list[int]) -> Parallelizable[int]:
    CALLS["cell"] += 1
    yield from row


def doubled(cell: int) -> int:
    CALLS["doubled"] += 1
    return cell * 2


def row_sum(doubled: Collect[int]) -> int:
    CALLS["row_sum"] += 1
    return sum(doubled)


def grid_total(row_sum: Collect[int]) -> int:
    CALLS["grid_total"] += 1
    return sum(row_sum)


# failures that are data


class Missing(Exception):
    """Like many exceptions, it cannot be rebuilt from its ``args`` (plain pickle fails)."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"{name}: {why}")
        self.name = name
        self.why = why


def entry(names: list[str]) -> Parallelizable[str]:
    CALLS["entry"] += 1
    yield from names


@on_error("deliver")
async def looked_up(entry: str) -> str:
    CALLS[f"looked_up:{entry}"] += 1
    if entry.startswith("no"):
        raise Missing(entry, "no such entry")
    return entry.title()


def found(looked_up: Collect[object]) -> list[str]:
    CALLS["found"] += 1
    return [v if isinstance(v, str) else f"missing {v.error.name}" for v in looked_up]  # type: ignore[attr-defined]


# behaviours set where the node is defined


@cache(behavior="recompute")
def clock(x: int) -> int:
    CALLS["clock"] += 1
    return x


def after_clock(clock: int) -> int:
    CALLS["after_clock"] += 1
    return clock + 1


class Client:
    """Something that must not enter keys (a connection)."""

    def __init__(self) -> None:
        self.opened = object()


@cache(behavior="ignore")
def client(x: int) -> Client:
    CALLS["client"] += 1
    return Client()


def uses_client(client: Client, x: int) -> int:
    CALLS["uses_client"] += 1
    return x + 100


@cache(behavior="disable")
def uncached(x: int) -> int:
    CALLS["uncached"] += 1
    return x


def after_uncached(uncached: int) -> int:
    CALLS["after_uncached"] += 1
    return uncached + 1
