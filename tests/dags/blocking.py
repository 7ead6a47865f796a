"""A sync node that blocks its thread until the test releases it."""

import asyncio
import threading


def blocker(started: threading.Event, release: threading.Event) -> bool:
    started.set()
    # The timeout only keeps a broken engine (running this on the loop) from hanging forever.
    return release.wait(timeout=5)


def after(blocker: bool) -> str:
    return "released" if blocker else "timed out"


async def fails_on_signal(fail_now: asyncio.Event) -> int:
    await fail_now.wait()
    raise RuntimeError("asked to fail")


def blocked_and_failing(blocker: bool, fails_on_signal: int) -> int:
    return fails_on_signal


def _reference() -> dict[str, object]:
    """``blocked_and_failing`` never completes: ``fails_on_signal`` always raises."""
    return {"blocker": True, "after": "released"}
