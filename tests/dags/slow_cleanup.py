"""An async node whose cancellation cleanup takes a while (think: a rollback that must finish).

When cancelled it records ``cleanup started``, insists on waiting for ``cleanup_release`` (even
if cancelled again), records ``cleanup finished`` and re-raises the cancellation.
"""

import asyncio


async def reluctant(
    entered: asyncio.Event,
    cleanup_started: asyncio.Event,
    cleanup_release: asyncio.Event,
    observed: list,
) -> str:
    entered.set()
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        observed.append("cleanup started")
        cleanup_started.set()
        while not cleanup_release.is_set():
            try:
                await cleanup_release.wait()
            except asyncio.CancelledError:
                pass
        observed.append("cleanup finished")
        raise
    return "never"


def _reference() -> dict[str, str]:
    """The node never completes: it only ends by cancellation."""
    return {}
