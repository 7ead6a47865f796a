"""Two independent async nodes that each wait for the other to have started.

Run one after the other they deadlock; run concurrently they meet.
"""

import asyncio


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


def _reference() -> dict[str, str]:
    return {"left": "left", "right": "right", "met": "left+right"}
