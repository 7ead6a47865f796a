"""All-sync block instances run off the loop, several per thread hop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asyncdag.execution._plan import BlockPlan
    from asyncdag.execution._scheduler import Instance, Run

__all__ = ["ThreadHops"]

#: a thread hop keeps taking items while it has run for less than this (seconds)
HOP_SECONDS = 0.001


class ThreadHops:
    """All-sync block instances run on the executor's threads, several per hop.

    A hop costs 15-70 us, more than a cheap item, so a hop keeps taking pending items from the
    expansion's queue while it has run for less than ``HOP_SECONDS``; a slow item ends its hop
    after itself, and items that wait for each other still run on different hops, because
    hops share one queue rather than owning fixed batches.
    """

    def __init__(self, run: Run, block: BlockPlan) -> None:
        self.run = run
        self.block = block
        self.waiting = 0  # hops sent to the pool that have not taken an item yet
        self._lock = threading.Lock()
        self._emitted = [s.name for s in block.steps if s.emit]

    def started(self) -> None:
        with self._lock:
            self.waiting += 1

    async def hop(
        self, pending: deque[Instance]
    ) -> tuple[list[tuple[Instance, dict[str, Any]]], list[tuple[str, tuple[int, ...], Any]]]:
        executor = self.run.remote
        loop = asyncio.get_running_loop()
        fut = executor.submit_sync(loop, self._work, pending)
        done: tuple[list[tuple[Instance, dict[str, Any]]], list[Any]] = await fut
        return done

    def _work(
        self, pending: deque[Instance]
    ) -> tuple[list[tuple[Instance, dict[str, Any]]], list[tuple[str, tuple[int, ...], Any]]]:
        from asyncdag.execution._fanout import FAILED_KEY
        from asyncdag.execution._scheduler import run_item_sync

        with self._lock:
            self.waiting -= 1
        run, block = self.run, self.block
        resources = run.resources
        events = run.events is not None
        started = time.perf_counter()
        done: list[tuple[Instance, dict[str, Any]]] = []
        produced: list[tuple[str, tuple[int, ...], Any]] = []
        while run.alive:
            try:
                child = pending.popleft()
            except IndexError:
                break
            failure = run_item_sync(block, child.values, child.lookup, child.index, resources)
            if failure is not None:
                done.append((child, {FAILED_KEY: failure}))
            else:
                done.append((child, child.values))
                if events:
                    produced.extend((n, child.index, child.values[n]) for n in self._emitted)
            if time.perf_counter() - started > HOP_SECONDS:
                break
        return done, produced
