"""Where each node runs: every node reports the pid and thread it ran on.

``outer_where`` and the collectors sit outside the block (local executor); ``scaled`` and
``item_where`` form the block of ``item`` (remote executor).
"""

from __future__ import annotations

import os
import threading

from asyncdag.htypes import Collect, Parallelizable


def _where() -> tuple[int, str]:
    return os.getpid(), threading.current_thread().name


def outer_where(n: int) -> tuple[int, str]:
    return _where()


def weight(n: int) -> int:
    return n + 1


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


def scaled(item: int, weight: int) -> int:
    return item * weight


def item_where(scaled: int) -> tuple[int, str]:
    return _where()


def total(scaled: Collect[int]) -> int:
    return sum(scaled)


def wheres(item_where: Collect[tuple[int, str]]) -> list[tuple[int, str]]:
    return list(item_where)


def _reference(n: int) -> int:
    return sum(i * (n + 1) for i in range(n))
