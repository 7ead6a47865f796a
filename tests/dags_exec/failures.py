"""Nodes that fail inside a worker: a user exception, or a worker that dies.

Every block node writes a ``started-<item>`` marker (its text is the worker's pid) before it
does anything else, so a test can count the items that ran and find the worker of each.
"""

from __future__ import annotations

import os
import signal
import threading

from asyncdag.htypes import Collect, Parallelizable
from tests.dags_exec.marks import mark


class Boom(Exception):
    """The user's own exception, raised by ``checked``."""


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


def checked(item: int, marks: str, fail_at: int, how: str) -> int:
    mark(marks, f"started-{item}")
    if item == fail_at:
        if how == "raise":
            raise Boom(f"item {item} is bad")
        if how == "exit":
            os._exit(3)
        if how == "segv":
            # on this very thread (os.kill may deliver it to another thread of the worker,
            # after this item has returned)
            signal.pthread_kill(threading.get_ident(), signal.SIGSEGV)
    return item * 2


def total(checked: Collect[int]) -> int:
    return sum(checked)


def _reference(n: int) -> int:
    return sum(i * 2 for i in range(n))
