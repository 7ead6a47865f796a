"""A small dataflow for the tracer: an expander, a block of two nodes, a collector.

``price`` fails for SKUs that start with ``bad`` (delivered to the collector as a failure);
``stamp`` reports, with ``time.time()``, when it ran and in which process, so that a test can
compare a span's times with the node's own.
"""

from __future__ import annotations

import os
import time

from asyncdag.htypes import Collect, Parallelizable
from asyncdag.policies import on_error


def sku(skus: list[str]) -> Parallelizable[str]:
    yield from skus


@on_error("deliver")
async def price(sku: str) -> int:
    if sku.startswith("bad"):
        raise LookupError(f"no price for {sku}")
    return len(sku)


def stamp(price: int, pause: float) -> tuple[float, float, int]:
    started = time.time()
    time.sleep(pause)
    return started, time.time(), os.getpid()


def total(stamp: Collect[object]) -> int:
    return sum(1 for s in stamp if isinstance(s, tuple))
