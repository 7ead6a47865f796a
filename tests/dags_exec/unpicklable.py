"""Values that cannot be pickled on their way to a worker.

``guard`` is an outer node whose value (a lock) the block reads when ``use_guard`` is true;
``item`` yields a lock instead of an int at index ``lock_at``. Each block instance that runs
writes a ``ran-<item>`` marker.
"""

from __future__ import annotations

import threading
from typing import Any

from asyncdag.htypes import Collect, Parallelizable
from tests.dags_exec.marks import mark


def guard(n: int) -> Any:
    return threading.Lock()


def item(n: int, lock_at: int) -> Parallelizable[Any]:
    for i in range(n):
        yield threading.Lock() if i == lock_at else i


def plain(item: Any, marks: str) -> int:
    mark(marks, f"ran-{item}")
    return 1


def guarded(item: Any, guard: Any, marks: str) -> int:
    mark(marks, f"ran-{item}")
    return 1


def plain_count(plain: Collect[int]) -> int:
    return sum(plain)


def guarded_count(guarded: Collect[int]) -> int:
    return sum(guarded)
