"""A node fails while a sibling async node is blocked; the sibling must be cancelled.

``stuck`` signals (on both an asyncio and a threading event) that it is running, then waits
forever, recording in ``observed`` that it was cancelled. ``boom`` (async) and ``sync_boom``
(sync, on a thread) wait for that signal and then raise.
"""

import asyncio
import threading


async def stuck(
    loop_started: asyncio.Event, thread_started: threading.Event, observed: list
) -> int:
    loop_started.set()
    thread_started.set()
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        observed.append("stuck cancelled")
        raise
    return 0


async def boom(loop_started: asyncio.Event) -> int:
    await loop_started.wait()
    raise ValueError("boom")


def sync_boom(thread_started: threading.Event) -> int:
    thread_started.wait(timeout=5)
    raise KeyError("sync boom")


def async_failure(stuck: int, boom: int) -> int:
    return stuck + boom


def sync_failure(stuck: int, sync_boom: int) -> int:
    return stuck + sync_boom


def plain_failure(divisor: int) -> float:
    return 1 / divisor


# a chain of sync nodes (each the only reader of the previous one) that fails in the middle
def checked(divisor: int) -> int:
    return divisor


def inverse(checked: int) -> float:
    return 1 / checked


def inverse_label(inverse: float) -> str:
    return f"{inverse:.2f}"


def _reference(divisor: int) -> dict[str, object]:
    """The nodes that complete, for a non-zero divisor."""
    return {
        "plain_failure": 1 / divisor,
        "checked": divisor,
        "inverse": 1 / divisor,
        "inverse_label": f"{1 / divisor:.2f}",
    }
