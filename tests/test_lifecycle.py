"""Closing a driver shuts its executors down; an unclosed one neither hangs nor leaks at exit.

Worker pids come from the pool itself (``pool().worker_pids()``) or, in the subprocess
scripts, are printed by the script before it exits.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import anyio.abc
import pytest

from asyncdag import driver
from asyncdag.errors import ExecutorError
from asyncdag.execution import executors
from tests.dags_exec import routing
from tests.dags_exec.pids import living, wait_gone

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[1]
# the scripts import asyncdag (and tests.dags_exec) from this checkout
SUBPROCESS_ENV = {**os.environ, "PYTHONPATH": str(REPO)}


async def _close(dr: driver.Driver, how: str) -> None:
    if how == "async with":
        async with dr:
            pass
    elif how == "aclose":
        await dr.aclose()
    else:
        dr.close()


@pytest.mark.parametrize("how", ["async with", "aclose", "close"])
async def test_closing_the_driver_stops_every_worker_process(how: str) -> None:
    ex = executors.MultiProcessingExecutor(max_tasks=2)
    dr = driver.Builder().with_modules(routing).with_remote_executor(ex).build()
    with anyio.fail_after(30):
        result = await dr.aexecute(["total", "wheres"], inputs={"n": 20})
    assert result["total"] == routing._reference(20)
    pids = set(ex.pool().worker_pids())
    assert {pid for pid, _ in result["wheres"]} <= pids
    with anyio.fail_after(15):
        await _close(dr, how)
    assert not living(pids), f"workers {living(pids)} outlived {how}"
    with pytest.raises(ExecutorError):
        ex.pool()
    with pytest.raises(ExecutorError):
        await dr.aexecute(["total"], inputs={"n": 1})
    dr.close()  # idempotent
    await dr.aclose()


async def test_closing_a_driver_after_execute_from_a_thread() -> None:
    ex = executors.MultiProcessingExecutor(max_tasks=2)
    dr = driver.Builder().with_modules(routing).with_remote_executor(ex).build()
    run = functools.partial(dr.execute, ["total"], inputs={"n": 10})
    with anyio.fail_after(30):
        assert await anyio.to_thread.run_sync(run, abandon_on_cancel=True) == {
            "total": routing._reference(10)
        }
    pids = set(ex.pool().worker_pids())
    assert pids
    with anyio.fail_after(15):
        await anyio.to_thread.run_sync(dr.close, abandon_on_cancel=True)
    assert not living(pids)


async def test_the_thread_executors_refuse_work_after_close() -> None:
    local, remote = executors.AsyncioExecutor(), executors.MultiThreadingExecutor(max_tasks=2)
    dr = (
        driver.Builder()
        .with_modules(routing)
        .with_local_executor(local)
        .with_remote_executor(remote)
        .build()
    )
    async with dr:
        with anyio.fail_after(10):
            await dr.aexecute(["total"], inputs={"n": 5})
    for ex in (local, remote):
        with pytest.raises(ExecutorError):
            ex.pool()


# -- a driver that is never closed ---------------------------------------------------------------

PRELUDE = """
import json
import multiprocessing.forkserver as fs
import sys
import threading

from asyncdag import driver
from asyncdag.execution import executors
from tests.dags_exec import routing, stuck
from tests.dags_exec.marks import count

ex = executors.MultiProcessingExecutor(max_tasks=2)


def report():
    info = {"workers": ex.pool().worker_pids(), "forkserver": fs._forkserver._forkserver_pid}
    print(json.dumps(info), flush=True)
"""

SCRIPTS = {
    # execute() once, then the script ends: no close(), no `if __name__` guard.
    "execute": """
dr = driver.Builder().with_modules(routing).with_remote_executor(ex).build()
assert dr.execute(["total"], inputs={"n": 20})["total"] == routing._reference(20)
report()
""",
    # the same from asyncio.run(aexecute(...))
    "aexecute": """
import asyncio

dr = driver.Builder().with_modules(routing).with_remote_executor(ex).build()
asyncio.run(dr.aexecute(["total"], inputs={"n": 20}))
report()
""",
    # the script ends while a run (on a daemon thread) holds both workers in a 60 s sleep
    "busy": """
import time

dr = driver.Builder().with_modules(stuck).with_remote_executor(ex).build()
marks = sys.argv[1]
threading.Thread(
    target=dr.execute, args=(["total"],), kwargs={"inputs": {"n": 10, "marks": marks}},
    daemon=True,
).start()
while count(marks, "started-") < 2:
    time.sleep(0.01)
report()
""",
}


@pytest.mark.parametrize("case", list(SCRIPTS))
async def test_an_unclosed_driver_neither_hangs_nor_leaks_workers_at_exit(
    case: str, tmp_path: Path
) -> None:
    script = tmp_path / "unclosed.py"
    script.write_text(textwrap.dedent(PRELUDE) + textwrap.dedent(SCRIPTS[case]))
    marks_dir = tmp_path / "marks"
    marks_dir.mkdir()
    command = [sys.executable, str(script), str(marks_dir)]
    pids: set[int] = set()
    async with await anyio.open_process(
        command, cwd=REPO, env=SUBPROCESS_ENV, stderr=subprocess.PIPE
    ) as proc:
        try:
            assert proc.stdout is not None and proc.stderr is not None
            with anyio.fail_after(30):
                report = await _first_line(proc.stdout)
            assert report, (await proc.stderr.receive()).decode()
            info = json.loads(report)
            pids = {*info["workers"], info["forkserver"]}
            assert info["workers"]
            # Generous next to the ~1 s it takes; a hang lasts until the 60 s sleep ends.
            with anyio.fail_after(15):
                assert await proc.wait() == 0
            with anyio.fail_after(10):
                await wait_gone(pids)
        finally:
            _kill(proc.pid, *pids)  # a failed test must not leave stuck workers behind


async def _first_line(stream: anyio.abc.ByteReceiveStream) -> str:
    data = b""
    while b"\n" not in data:
        try:
            data += await stream.receive()
        except anyio.EndOfStream:
            break
    return data.decode().split("\n", 1)[0].strip()


def _kill(*pids: int) -> None:
    for pid in living(pids):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
