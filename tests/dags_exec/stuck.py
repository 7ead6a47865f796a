"""Every block instance gets stuck: it writes ``started-<item>`` (text: its worker's pid) and
then sleeps far longer than any test waits, so only cancellation can free its worker."""

from __future__ import annotations

import time

from asyncdag.htypes import Collect, Parallelizable
from tests.dags_exec.marks import mark


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


def stuck(item: int, marks: str) -> int:
    mark(marks, f"started-{item}")
    time.sleep(60)
    return item


def total(stuck: Collect[int]) -> int:
    return sum(stuck)
