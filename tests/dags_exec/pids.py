"""Whether processes are still running, for the tests that check no worker outlives its use."""

from __future__ import annotations

from collections.abc import Iterable

import anyio
import psutil

__all__ = ["alive", "living", "wait_gone"]


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped does not count)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def living(pids: Iterable[int]) -> set[int]:
    return {pid for pid in pids if alive(pid)}


async def wait_gone(pids: Iterable[int]) -> None:
    """Return once none of ``pids`` runs; the caller bounds the wait with ``fail_after``."""
    pids = set(pids)
    while living(pids):
        await anyio.sleep(0.02)
