"""A per-worker resource that cannot be pickled, built by a generator (so it has a teardown).

``conn`` writes ``built-<pid>-<token>`` when it is built and ``torn-<pid>-<token>`` when it is
torn down; ``used`` reports which process and which resource object served each item.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator

from asyncdag.htypes import Collect, Parallelizable
from asyncdag.resources import per_worker
from tests.dags_exec.marks import mark


class Conn:
    """Stands in for a client: holds a lock, so pickling it fails."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.token = uuid.uuid4().hex[:12]
        self.closed = False


@per_worker
def conn(marks: str) -> Iterator[Conn]:
    c = Conn()
    mark(marks, f"built-{os.getpid()}-{c.token}")
    yield c
    c.closed = True
    mark(marks, f"torn-{os.getpid()}-{c.token}")


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


def used(item: int, conn: Conn) -> tuple[int, int, str]:
    with conn.lock:
        assert not conn.closed
        return item, os.getpid(), conn.token


def uses(used: Collect[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    return list(used)
