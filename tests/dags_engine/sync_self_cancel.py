"""Sync nodes that raise CancelledError themselves, inside a block or outside, while their
run is not cancelled (``WHERE`` picks which)."""

from __future__ import annotations

import asyncio

from asyncdag.htypes import Collect, Parallelizable

WHERE = "in_block"


def items(n: int) -> Parallelizable[int]:
    yield from range(n)


def per_item(items: int) -> int:
    if WHERE == "in_block" and items == 1:
        raise asyncio.CancelledError("raised by per_item itself")
    return items


def total(per_item: Collect[int]) -> int:
    if WHERE == "outside":
        raise asyncio.CancelledError("raised by total itself")
    return sum(per_item)
