"""A sync generator expander that records when it is opened and closed; item FAIL_AT fails."""

from __future__ import annotations

from asyncdag.htypes import Collect, Parallelizable

EVENTS: list[str] = []
FAIL_AT = 0


def items(n: int) -> Parallelizable[int]:
    EVENTS.append("open")
    try:
        yield from range(n)
    finally:
        EVENTS.append("close")


def leaf(items: int) -> int:
    if items == FAIL_AT:
        raise ValueError("leaf fails")
    return items


def total(leaf: Collect[int]) -> int:
    return sum(leaf)
