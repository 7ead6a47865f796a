"""Items that announce themselves, then hang; cancelled, they clean up slowly."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from asyncdag.htypes import Parallelizable


@dataclass
class Probe:
    cleanup_started: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    log: list[str] = field(default_factory=list)


def item(count: int) -> Parallelizable[int]:
    yield from range(count)


async def label(item: int) -> str:
    return f"item {item}"


async def hang(item: int, probe: Probe) -> int:
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        probe.cleanup_started.set()
        await probe.release.wait()
        probe.log.append("cleanup finished")
        raise
    return item
