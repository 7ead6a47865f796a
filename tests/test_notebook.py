"""Notebooks: ``execute()`` inside a real IPython kernel (started with jupyter_client, as
Jupyter does) runs on a helper loop; outside a kernel, a running loop still refuses it."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from asyncdag import _notebook, driver
from asyncdag.errors import NodeExecutionError, RunningLoopError
from tests.dags_notebook import flow

REPO = Path(__file__).resolve().parent.parent

jupyter_client = pytest.importorskip("jupyter_client")
pytest.importorskip("ipykernel")


class Kernel:
    """A kernel and its client; ``run`` executes a cell and collects what it shows."""

    def __init__(self) -> None:
        from jupyter_client.manager import KernelManager

        self.manager = KernelManager(kernel_name="python3", transport="ipc")
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.manager.start_kernel(cwd=str(REPO), env=env)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def run(self, code: str, timeout: float = 60) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        shown: list[dict[str, Any]] = []

        def keep(msg: dict[str, Any]) -> None:
            if msg["msg_type"] in ("stream", "execute_result", "display_data", "error"):
                shown.append({"type": msg["msg_type"], **msg["content"]})

        reply = self.client.execute_interactive(code, timeout=timeout, output_hook=keep)
        return reply["content"], shown

    def stdout(self, code: str) -> str:
        reply, shown = self.run(code)
        assert reply["status"] == "ok", reply
        return "".join(s["text"] for s in shown if s["type"] == "stream" and s["name"] == "stdout")

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    k = Kernel()
    try:
        assert (
            k.stdout(
                "import asyncio\n"
                "from asyncdag import driver\n"
                "from tests.dags_notebook import flow\n"
                "dr = driver.Builder().with_modules(flow).build()\n"
                "asyncio.get_running_loop()  # a kernel runs its cells in its event loop\n"
                "print('ready')\n"
            )
            == "ready\n"
        )
        yield k
    finally:
        k.close()


def test_execute_works_in_a_kernel(kernel: Kernel) -> None:
    assert kernel.stdout("print(dr.execute(['total', 'squared'], inputs={'n': 4}))") == (
        "{'total': 14, 'squared': [0, 1, 4, 9]}\n"
    )
    # again: the helper loop is reused, not one per cell
    assert (
        kernel.stdout(
            "import threading\n"
            "dr.execute(['total'], inputs={'n': 2})\n"
            "print(sorted(t.name for t in threading.enumerate() if t.name == 'asyncdag-notebook'))"
        )
        == "['asyncdag-notebook']\n"
    )


def test_a_failing_node_raises_in_the_cell(kernel: Kernel) -> None:
    reply, shown = kernel.run("dr.execute(['broken'], inputs={'n': 3})")
    assert reply["status"] == "error"
    assert reply["ename"].startswith("NodeExecutionError")  # NodeExecutionError[ValueError]
    assert "'broken'" in reply["evalue"]
    assert kernel.stdout("print('still serving')") == "still serving\n"


def test_an_interrupt_cancels_the_run_and_the_kernel_goes_on(
    kernel: Kernel, tmp_path: Path
) -> None:
    marker = tmp_path / "held"
    # stop_on_error=False: else the kernel aborts the requests that reach it while it still
    # handles this cell's error, and under load the checks below can be among them
    msg_id = kernel.client.execute(
        f"dr.execute(['all_held'], inputs={{'n': 3, 'marker': {str(marker)!r}}})",
        stop_on_error=False,
    )
    deadline = time.monotonic() + 60  # the kernel is another process: a plain deadline
    while len(list(tmp_path.glob("held.*"))) < 3:  # every item's node is running
        assert time.monotonic() < deadline, "the run's nodes never started"
        time.sleep(0.02)
    kernel.manager.interrupt_kernel()
    while True:  # get_shell_msg raises queue.Empty after its timeout: nothing hangs
        reply = kernel.client.get_shell_msg(timeout=60)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    # the run was cancelled before the interrupt reached the cell: every node saw it
    assert kernel.stdout("print(sorted(flow.CANCELLED))") == "[0, 1, 2]\n"
    assert (
        kernel.stdout(
            "from asyncdag import _notebook\n"
            "async def tasks():\n"
            "    return sorted(t.get_coro().__qualname__ for t in asyncio.all_tasks())\n"
            "print(asyncio.run_coroutine_threadsafe(tasks(), _notebook._helper_loop()).result())"
        )
        == "['tasks']\n"
    )  # nothing of the run is left on the helper loop
    assert kernel.stdout("print(dr.execute(['total'], inputs={'n': 3}))") == "{'total': 5}\n"


def test_pictures_render_inline(kernel: Kernel) -> None:
    reply, shown = kernel.run("dr.display_all_functions()")
    assert reply["status"] == "ok"
    (result,) = [s for s in shown if s["type"] == "execute_result"]
    rich = set(result["data"]) - {"text/plain"}
    assert rich & {"image/svg+xml", "text/markdown", "text/vnd.mermaid", "text/html"}


# -- outside a kernel ----------------------------------------------------------------------


def test_not_a_kernel_without_ipython_or_with_a_plain_shell(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys
    import types

    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert not _notebook.in_kernel()
    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert not _notebook.in_kernel()  # IPython imported, no shell
    fake.get_ipython = lambda: types.SimpleNamespace()  # type: ignore[attr-defined]
    assert not _notebook.in_kernel()  # a terminal shell has no kernel
    fake.get_ipython = lambda: types.SimpleNamespace(kernel=object())  # type: ignore[attr-defined]
    assert _notebook.in_kernel()


@pytest.mark.anyio
async def test_a_running_loop_outside_a_kernel_still_refuses_execute() -> None:
    dr = driver.Builder().with_modules(flow).build()
    with pytest.raises(RunningLoopError, match="aexecute"):
        dr.execute(["total"], inputs={"n": 2})
    dr.close()


def test_the_helper_loop_returns_results_and_raises_errors() -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    async def fails() -> None:
        raise KeyError("x")

    assert _notebook.run_in_helper_loop(answer()) == 42
    with pytest.raises(KeyError):
        _notebook.run_in_helper_loop(fails())
    dr = driver.Builder().with_modules(flow).build()
    with pytest.raises(NodeExecutionError):
        _notebook.run_in_helper_loop(dr.aexecute(["broken"], inputs={"n": 1}))
    dr.close()
