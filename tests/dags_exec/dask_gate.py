"""Block instances that wait, on the Dask worker, until the test opens a ``distributed.Event``.

The test opens the event once as many batches are in flight as it expects the executor to
allow: if the executor allowed fewer, the run would hang (and the test's ``fail_after`` fire).
"""

from __future__ import annotations

from asyncdag.htypes import Collect, Parallelizable


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


def held(item: int, gate: str) -> int:
    from distributed import Event

    if not Event(gate).wait(timeout=30):
        raise TimeoutError(f"{gate} was never opened")
    return item


def total(held: Collect[int]) -> int:
    return sum(held)
