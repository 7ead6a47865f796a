"""A Frontier whose items are lists and that gives no key: its items cannot be deduplicated."""

from __future__ import annotations

from asyncdag.htypes import Collect, Discovered, Frontier


def item(n: int) -> Frontier[list[int]]:
    return Frontier([[n]])


def more(item: list[int]) -> Discovered[list[int]]:
    return []


def count(item: Collect[list[int]]) -> int:
    return len(item)
