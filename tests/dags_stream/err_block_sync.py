"""Sync block (on worker threads) for the failure tests: item ``fail_at`` raises."""

from __future__ import annotations

from asyncdag.htypes import Collect
from tests.dags_stream.probes import Failure


def work(items: int, probe: Failure) -> int:
    probe.start()
    if items == probe.fail_at:
        probe.enough.wait_sync()
        raise ValueError(f"boom at {items}")
    if probe.hold:
        probe.release.wait_sync()  # blocks a worker thread until the test releases it
    return items


def total(work: Collect[int], probe: Failure) -> int:
    probe.calls.hit("total")
    return sum(work)
