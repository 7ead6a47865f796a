"""Async block whose items finish in the order a ``Chain`` prescribes."""

from __future__ import annotations

from tests.dags_stream.probes import Chain


async def finished(items: int, chain: Chain) -> int:
    await chain.finish(items)
    return items * 10
