"""A block of sync and async nodes that record each call in a file (a side channel that
works from threads and worker processes alike): ``calls(path)`` reads them back."""

from __future__ import annotations

import os
from collections import Counter

from asyncdag.htypes import Collect, Parallelizable


def _record(log_path: str, what: str) -> None:
    with open(log_path, "a", encoding="utf-8") as f:  # one short write: atomic with O_APPEND
        f.write(f"{what}\n")


def calls(log_path: str) -> Counter[str]:
    """How many times each node (``node`` or ``node:item``) ran since the file was made."""
    if not os.path.exists(log_path):
        return Counter()
    with open(log_path, encoding="utf-8") as f:
        return Counter(line.strip() for line in f if line.strip())


def item(n: int, log_path: str) -> Parallelizable[int]:
    _record(log_path, "item")
    yield from range(n)


def square(item: int, log_path: str) -> int:
    _record(log_path, f"square:{item}")
    return item * item


async def shifted(square: int, offset: int, log_path: str) -> int:
    _record(log_path, f"shifted:{square}")
    return square + offset


def total(shifted: Collect[int], log_path: str) -> int:
    _record(log_path, "total")
    return sum(shifted)


def expected_total(n: int, offset: int) -> int:
    return sum(i * i + offset for i in range(n))


def square_sum(square: Collect[int], log_path: str) -> int:
    """Reads only ``square``: its block is all sync (one piece on a thread or in a worker)."""
    _record(log_path, "square_sum")
    return sum(square)
