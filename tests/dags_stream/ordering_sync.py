"""Sync block (on worker threads) whose items finish in the order a ``Chain`` prescribes."""

from __future__ import annotations

from tests.dags_stream.probes import Chain


def finished(items: int, chain: Chain) -> int:
    chain.finish_sync(items)
    return items * 10
