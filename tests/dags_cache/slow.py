"""A block that takes a while per item, for killing a run half-way: ``work`` (async) then
``post`` (sync) per item; each call is recorded in ``log_path`` and announced on stdout."""

from __future__ import annotations

import asyncio
import sys

from asyncdag.htypes import Collect, Parallelizable


def _record(log_path: str, what: str) -> None:
    with open(log_path, "a", encoding="utf-8") as f:
        f.write(f"{what}\n")
    print(what, flush=True)


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


async def work(item: int, log_path: str, delay: float) -> int:
    await asyncio.sleep(delay)
    _record(log_path, f"work:{item}")
    return item * 3


def post(work: int, log_path: str) -> int:
    _record(log_path, f"post:{work // 3}")
    return work + 1


def total(post: Collect[int]) -> int:
    return sum(post)


def expected_total(n: int) -> int:
    return sum(3 * i + 1 for i in range(n))


if __name__ == "__main__":  # python -m tests.dags_cache.slow CACHE_DIR N LOG DELAY
    from asyncdag import driver
    from asyncdag.execution import executors
    from tests.dags_cache import slow

    cache_dir, n, log, delay = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    dr = (
        driver.Builder()
        .with_modules(slow)
        .with_cache(cache_dir)
        .with_remote_executor(executors.AsyncioExecutor(max_tasks=8))
        .build()
    )
    result = dr.execute(["total"], inputs={"n": n, "log_path": log, "delay": delay})
    print(f"total={result['total']}", flush=True)
