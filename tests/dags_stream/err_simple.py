"""Picklable failing map-reduce (no probes): every item from ``fail_from`` on raises."""

from __future__ import annotations

from asyncdag.htypes import Collect, Parallelizable


class Boom(Exception):
    """The user's own exception type."""


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


def checked(item: int, fail_from: int) -> int:
    if item >= fail_from:
        raise Boom(f"item {item}")
    return item


def total(checked: Collect[int]) -> int:
    return sum(checked)


def fails_itself(total: int) -> int:
    raise Boom(f"collector saw {total}")
