"""Async and sync nodes mixed; async nodes meet at a shared ``Gate`` across runs.

The gate opens only when ``gate.expected`` runs have all reached it, so a test that starts that
many runs at once proves they are all in flight together.
"""

import asyncio


class Gate:
    """Opens once ``expected`` callers have arrived. A class: not a node."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.arrived = 0
        self._open = asyncio.Event()

    async def arrive(self) -> None:
        self.arrived += 1
        if self.arrived >= self.expected:
            self._open.set()
        await self._open.wait()


async def fetched(key: int, gate: Gate) -> int:
    await gate.arrive()
    return key * 3


def parsed(fetched: int, key: int) -> str:
    return f"{key}:{fetched}"


async def enriched(parsed: str, salt: str = "s") -> str:
    await asyncio.sleep(0)
    return parsed + salt


def summary(enriched: str, fetched: int) -> dict[str, object]:
    return {"enriched": enriched, "fetched": fetched}


def _reference(key: int, salt: str = "s") -> dict[str, object]:
    fetched_ = key * 3
    enriched_ = f"{key}:{fetched_}{salt}"
    return {"summary": {"enriched": enriched_, "fetched": fetched_}}
