"""One expansion's block reads a value collected from another expansion; a nested block reads
outer values from one and two levels up."""

from __future__ import annotations

from asyncdag.htypes import Collect, Parallelizable
from tests.dags_stream.probes import Calls


def first(n: int) -> Parallelizable[int]:
    yield from range(n)


def first_sq(first: int) -> int:
    return first * first


def first_total(first_sq: Collect[int], calls: Calls) -> int:
    calls.hit("first_total")
    return sum(first_sq)


async def second(m: int) -> Parallelizable[int]:
    for i in range(m):
        yield i


def second_plus(second: int, first_total: int) -> int:
    return second + first_total


def second_all(second_plus: Collect[int]) -> list[int]:
    return list(second_plus)


def offset(first_total: int, calls: Calls) -> int:
    calls.hit("offset")
    return first_total + 1


def outer(m: int) -> Parallelizable[int]:
    yield from range(m)


def outer_k(outer: int, offset: int, calls: Calls) -> int:
    calls.hit("outer_k")
    return outer * offset


def inner(outer: int) -> Parallelizable[int]:
    yield from range(outer + 1)


def leaf(inner: int, outer_k: int, offset: int) -> int:
    return inner + outer_k + offset


def leaves(leaf: Collect[int]) -> list[int]:
    return list(leaf)


def all_leaves(leaves: Collect[list[int]]) -> list[list[int]]:
    return list(leaves)


def _reference(n: int, m: int) -> dict[str, object]:
    first_total = sum(i * i for i in range(n))
    offset = first_total + 1
    return {
        "first_total": first_total,
        "second_all": [i + first_total for i in range(m)],
        "outer_k": [o * offset for o in range(m)],
        "all_leaves": [[i + o * offset + offset for i in range(o + 1)] for o in range(m)],
    }
