"""Nodes for the fault tests: a result big enough for a file, values that cannot be pickled
or versioned. ``CALLS`` lists the nodes run (in-process)."""

from __future__ import annotations

import threading
from typing import Any

CALLS: list[str] = []


def big(x: int) -> bytes:
    CALLS.append("big")
    return bytes([x % 256]) * 300_000  # over the inline limit: a file


def small(x: int) -> list[int]:
    CALLS.append("small")
    return [x + 1]  # not a literal version: its pickle is stored (in a pack)


def after_big(big: bytes) -> int:
    CALLS.append("after_big")
    return len(big)


class Unpicklable:
    def __init__(self, x: int) -> None:
        self.x = x

    def __reduce__(self) -> Any:
        raise TypeError("this object refuses to be pickled")


def odd(x: int) -> Unpicklable:
    CALLS.append("odd")
    return Unpicklable(x)


def after_odd(odd: Unpicklable) -> int:
    CALLS.append("after_odd")
    return odd.x * 2


def lock(x: int) -> Any:
    CALLS.append("lock")
    return threading.Lock()


def after_lock(lock: Any, x: int) -> int:
    CALLS.append("after_lock")
    return x
