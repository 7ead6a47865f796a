"""Per-worker resources: built once where they are used, never pickled, torn down at close.

Resources write ``built-<pid>-<token>`` / ``torn-<pid>-<token>`` marker files, so that builds
in worker processes can be counted per process. Each process test has its own pool: closing
the driver (which tears the resources down) closes its executors.
"""

from __future__ import annotations

import functools
import pickle
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from asyncdag import driver
from asyncdag.errors import GraphError
from asyncdag.execution import executors
from tests.dags_exec import marks, res_async, res_async_gen, res_sync, res_sync_reads_async
from tests.dags_exec.pids import living

pytestmark = pytest.mark.anyio


def built(marks_dir: Path, prefix: str = "built-") -> set[tuple[int, str]]:
    """(pid, token) of every resource object built (or torn down, with ``prefix="torn-"``)."""
    found = set()
    for name in marks.read(marks_dir, prefix):
        _, pid, token = name.split("-", 2)
        found.add((int(pid), token))
    return found


def in_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run blocking ``fn`` (e.g. ``Driver.execute``) on a thread that fail_after can abandon."""
    return anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), abandon_on_cancel=True)


# -- sync resources ------------------------------------------------------------------------------


async def test_a_resource_is_built_once_per_worker_process_and_torn_down_at_close(
    tmp_path: Path,
) -> None:
    with pytest.raises(TypeError):
        pickle.dumps(res_sync.Conn())  # so the object itself can never travel
    ex = executors.MultiProcessingExecutor(max_tasks=2)
    dr = driver.Builder().with_modules(res_sync).with_remote_executor(ex).build()
    inputs = {"n": 40, "marks": str(tmp_path)}
    try:
        with anyio.fail_after(30):
            first = await dr.aexecute(["uses"], inputs=inputs)
            second = await dr.aexecute(["uses"], inputs=inputs)
        workers = set(ex.pool().worker_pids())
    finally:
        dr.close()
    made = built(tmp_path)
    per_pid = Counter(pid for pid, _ in made)
    assert per_pid and max(per_pid.values()) == 1, f"built more than once in a worker: {made}"
    token_of = dict(made)
    uses = first["uses"] + second["uses"]
    assert sorted(i for i, _, _ in first["uses"]) == list(range(40))
    for _, pid, token in uses:
        assert token_of[pid] == token  # every item used its own worker's one object
    assert {pid for _, pid, _ in uses} <= workers
    assert built(tmp_path, "torn-") == made  # each torn down when the driver closed
    assert not living(workers)


@pytest.mark.parametrize(
    "make",
    [
        executors.SynchronousLocalTaskExecutor,
        executors.AsyncioExecutor,
        lambda: executors.MultiThreadingExecutor(max_tasks=4),
    ],
    ids=["inline", "asyncio", "threads"],
)
async def test_on_threads_a_resource_is_built_once_per_driver(
    tmp_path: Path, make: Callable[[], executors.TaskExecutor]
) -> None:
    dr = driver.Builder().with_modules(res_sync).with_remote_executor(make()).build()
    inputs = {"n": 30, "marks": str(tmp_path)}
    try:
        with anyio.fail_after(30):
            runs = [await dr.aexecute(["uses"], inputs=inputs) for _ in range(2)]
            runs.append(await in_thread(dr.execute, ["uses"], inputs=inputs))  # another loop
    finally:
        dr.close()
    made = built(tmp_path)
    assert len(made) == 1, made
    ((_, token),) = made
    assert {t for run in runs for _, _, t in run["uses"]} == {token}
    assert built(tmp_path, "torn-") == made


# -- async resources -----------------------------------------------------------------------------


async def test_an_async_resource_is_built_once_per_event_loop(tmp_path: Path) -> None:
    dr = driver.Builder().with_modules(res_async).build()
    inputs = {"n": 30, "marks": str(tmp_path)}
    try:
        with anyio.fail_after(30):
            here = [await dr.aexecute(["ausage"], inputs=inputs) for _ in range(2)]
            assert len(built(tmp_path)) == 1
            elsewhere = await in_thread(dr.execute, ["ausage"], inputs=inputs)  # its own loop
    finally:
        dr.close()
    assert len(built(tmp_path)) == 2
    here_tokens = {t for run in here for _, t, _ in run["ausage"]}
    there_tokens = {t for _, t, _ in elsewhere["ausage"]}
    assert len(here_tokens) == 1 and len(there_tokens) == 1 and here_tokens != there_tokens
    assert all(same_loop for run in [*here, elsewhere] for _, _, same_loop in run["ausage"])


async def test_an_async_generator_resource_is_torn_down_by_aclose(tmp_path: Path) -> None:
    dr = driver.Builder().with_modules(res_async_gen).build()
    inputs = {"n": 20, "marks": str(tmp_path)}
    async with dr:
        with anyio.fail_after(30):
            runs = [await dr.aexecute(["fetches"], inputs=inputs) for _ in range(2)]
        assert not built(tmp_path, "torn-")
    made = built(tmp_path)
    assert len(made) == 1
    assert {t for run in runs for _, t, same in run["fetches"] if same} == {next(iter(made))[1]}
    assert built(tmp_path, "torn-") == made


async def test_an_async_resource_on_workers_is_built_once_per_worker(tmp_path: Path) -> None:
    # A per-worker resource exists to be reused by the tasks a worker runs (an HTTP session,
    # a client): a worker that builds it again for every batch defeats it.
    ex = executors.MultiProcessingExecutor(max_tasks=2)
    dr = driver.Builder().with_modules(res_async).with_remote_executor(ex).build()
    inputs = {"n": 60, "marks": str(tmp_path)}
    try:
        with anyio.fail_after(30):
            runs = [await dr.aexecute(["ausage"], inputs=inputs) for _ in range(2)]
    finally:
        dr.close()
    assert all(same for run in runs for _, _, same in run["ausage"])
    per_pid = Counter(pid for pid, _ in built(tmp_path))
    assert max(per_pid.values()) == 1, f"builds per worker pid: {dict(per_pid)}"


async def test_an_async_generator_resource_on_workers_is_torn_down_at_close(
    tmp_path: Path,
) -> None:
    ex = executors.MultiProcessingExecutor(max_tasks=2)
    dr = driver.Builder().with_modules(res_async_gen).with_remote_executor(ex).build()
    inputs = {"n": 30, "marks": str(tmp_path)}
    try:
        with anyio.fail_after(30):
            await dr.aexecute(["fetches"], inputs=inputs)
    finally:
        await dr.aclose()
    made = built(tmp_path)
    assert made
    assert built(tmp_path, "torn-") == made


@pytest.mark.parametrize("where", ["asyncio", "processes"])
def test_a_sync_node_reading_an_async_resource_is_refused_at_build(where: str) -> None:
    # Known from the graph alone, so it is a build error, before any user code runs; and it
    # names the sync reader, the node that has to become `async def`.
    builder = driver.Builder().with_modules(res_sync_reads_async)
    if where == "processes":
        builder = builder.with_remote_executor(executors.MultiProcessingExecutor(max_tasks=1))
    with pytest.raises(GraphError) as info:
        builder.build()
    text = str(info.value)
    assert "'client'" in text and "'fetched'" in text, text
    assert "async def" in text, text
