"""Sync nodes and what a cancelled run lets them do."""

from __future__ import annotations

import threading
from typing import Any

import asyncdag
from asyncdag.htypes import Collect, Parallelizable


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


def crunch(item: int, probe: dict[str, Any]) -> int:
    """Item 0 loops until its run is cancelled, checking now and then; the rest are queued."""
    with probe["lock"]:
        probe["started"].append(item)
    if item == 0:
        probe["running"].set()
        while True:
            asyncdag.check_cancelled()  # raises once the run is over
            probe["tick"].wait(0.001)
    return item


def crunched(crunch: Collect[int]) -> int:
    return sum(crunch)


def make_probe() -> dict[str, Any]:
    return {
        "lock": threading.Lock(),
        "started": [],
        "running": threading.Event(),
        "tick": threading.Event(),
    }
