"""The off-loop interpreter of an all-sync block (``execution._blockrun.run_block``) makes
the run current while its steps run: on a pool thread and in a worker process alike, a sync
node's ``current_run()`` is its run, with the run's id (``check_cancelled()`` reads the
same). The cache's per-run state depends on it too (``test_caching_executors``).
"""

from __future__ import annotations

from typing import Any

import pytest

from asyncdag import _calls, driver
from asyncdag.execution import executors
from asyncdag.execution._blockrun import run_block
from asyncdag.execution._outcome import DONE
from asyncdag.execution._plan import ExpandStep
from asyncdag.execution._resources import ResourceCache
from tests.dags_engine import run_aware

pytestmark = pytest.mark.timeout(120)


def _block() -> Any:
    dr = driver.Builder().with_modules(run_aware).build()
    plan = dr._plan(("ids",), frozenset({"n"}))
    (expand,) = [s for s in plan.root.steps if isinstance(s, ExpandStep)]
    return expand.child


def test_the_run_is_current_while_the_steps_run_and_not_after() -> None:
    block = _block()
    run = _calls.RunInfo("run-7")
    values: dict[str, Any] = {"item": 3}
    assert _calls.current_run() is None
    assert run_block(block, values, lambda lvl, key: None, (3,), ResourceCache(), run) is DONE
    assert values["seen"] == values["checked"] == "run-7"
    assert _calls.current_run() is None  # given back


@pytest.mark.parametrize("kind", ["inline", "threads", "processes"])
def test_sync_nodes_see_their_run_wherever_they_run(kind: str) -> None:
    b = driver.Builder().with_modules(run_aware)
    if kind == "threads":
        b = b.with_remote_executor(executors.MultiThreadingExecutor(max_tasks=2))
    elif kind == "processes":
        b = b.with_remote_executor(executors.MultiProcessingExecutor(max_tasks=2))
    dr = b.build()
    try:
        first = dr.execute(["ids"], inputs={"n": 6})["ids"]
        second = dr.execute(["ids"], inputs={"n": 6})["ids"]
    finally:
        dr.close()
    assert len(first) == 6 and len(set(first)) == 1 and first[0], first
    assert len(set(second)) == 1 and second[0] != first[0]  # each run its own id
