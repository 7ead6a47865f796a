"""Two independent async nodes that each wait for the other to have started.

Run one after the other they deadlock; run concurrently they meet.
"""

import asyncio
import threading


async def left(left_arrived: asyncio.Event, right_arrived: asyncio.Event) -> str:
    left_arrived.set()
    await right_arrived.wait()
    return "left"


async def right(left_arrived: asyncio.Event, right_arrived: asyncio.Event) -> str:
    right_arrived.set()
    await left_arrived.wait()
    return "right"


def met(left: str, right: str) -> str:
    return f"{left}+{right}"


def _reference() -> dict[str, object]:
    return {
        "left": "left",
        "right": "right",
        "met": "left+right",
        "left_sync": True,
        "right_sync": True,
        "met_sync": True,
    }


# The same meeting for sync nodes, on threads. The timeout only keeps a broken engine (running
# them one after the other) from hanging: it then returns False instead of True.
def left_sync(left_ready: threading.Event, right_ready: threading.Event) -> bool:
    left_ready.set()
    return right_ready.wait(timeout=2)


def right_sync(left_ready: threading.Event, right_ready: threading.Event) -> bool:
    right_ready.set()
    return left_ready.wait(timeout=2)


def met_sync(left_sync: bool, right_sync: bool) -> bool:
    return left_sync and right_sync
