"""A Frontier expander fed by its block (numbers that lead to their halves), with a counter
of the calls of the block's nodes."""

from __future__ import annotations

from collections import Counter

from asyncdag.htypes import Collect, Discovered, Frontier

CALLS: Counter[str] = Counter()


def number(start: int) -> Frontier[int]:
    return Frontier([start])


def visited(number: int) -> int:
    CALLS["visited"] += 1
    return number


def halves(visited: int) -> Discovered[int]:
    return [visited // 2, (visited + 1) // 2] if visited > 1 else []


def seen(visited: Collect[int]) -> list[int]:
    return sorted(visited)
