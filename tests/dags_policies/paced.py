"""Block nodes under ``rate_limit``: three a second overall, or two a second per host."""

from __future__ import annotations

import os
import time

from asyncdag.htypes import Parallelizable
from asyncdag.policies import rate_limit


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


@rate_limit(3, per=1.0)
async def apaced(item: int) -> int:
    return item


def host(item: int) -> str:
    return f"h{item % 2}"


@rate_limit(2, per=1.0, key=lambda host: host)
def per_host(item: int, host: str) -> str:
    return f"{host}/{item}"


@rate_limit(2, per=0.1)
async def timed(item: int) -> tuple[int, float]:
    """For worker processes: where and when each call was admitted."""
    return os.getpid(), time.monotonic()
