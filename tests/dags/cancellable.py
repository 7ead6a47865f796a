"""An async node that blocks on ``gate`` and records being cancelled."""

import asyncio


async def waiting(entered: asyncio.Event, gate: asyncio.Event, observed: list) -> str:
    entered.set()
    try:
        await gate.wait()
    except asyncio.CancelledError:
        observed.append("waiting cancelled")
        raise
    return "opened"


def result(waiting: str, suffix: str = "!") -> str:
    return waiting + suffix


def _reference(suffix: str = "!") -> dict[str, str]:
    return {"waiting": "opened", "result": "opened" + suffix}
