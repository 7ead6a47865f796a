"""Property-based, with faults: random nested dataflows fail, end items and are cancelled at
random points on every executor, and leave nothing behind.

Each example draws a dataflow (``tests/property_dataflows.py``, with ``on_error`` policies on
some nodes), asks the reference evaluator which calls it makes, and draws a fault plan over
those calls, in one of three modes:

- ``fail``: one call whose error policy fails the run raises (a generator: after k items),
  maybe with item faults elsewhere; the run must raise ``NodeExecutionError`` naming exactly
  that node and item, with the injected exception as ``__cause__`` and its class as a base;
- ``items``: only calls under ``on_error("skip")`` / ``on_error("deliver")`` raise; the run
  must return what the reference gives with those items left out or delivered as
  ``ItemFailure``;
- ``cancel``: the task awaiting ``aexecute`` is cancelled after the n-th node call made in
  this process (maybe with item faults too); the run must raise ``CancelledError`` itself, or
  return the reference's result if it had finished.

The fault plans never make the outcome depend on timing: item faults sit on distinct items
none of which contains another, and the failing call is not inside an item that ends.

After every run, failed or cancelled: no task of the run is left on the loop, no thread of
the run is busy (the executor's pool, the pump pool, the spare pool), every executor slot is
back, every generator that started was closed, every node saw its own call in
``current_call()``; on processes the pool holds only live workers of its own and the next run
works. Successful runs match the reference exactly.

Executors: inline, ``MultiThreadingExecutor``, the default ``AsyncioExecutor`` under
``aexecute`` and under ``execute()`` (no cancellation there: it is sync), and
``MultiProcessingExecutor`` (one for the module: workers are slow to start).
"""

from __future__ import annotations

import ast
import asyncio
import gc
import multiprocessing
import os
import tempfile
import threading
import time
import traceback
import types
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from asyncdag import driver
from asyncdag.errors import NodeExecutionError, NodeTimeoutError
from asyncdag.execution import _streams, executors, grouping
from tests.property_dataflows import (
    FAULT_KINDS,
    GENERATOR_STYLES,
    Call,
    Faults,
    ParentOnly,
    Reference,
    RunFailed,
    Spec,
    build_module,
    comparable,
    dataflows,
    describe,
)

#: a run that takes longer than this hung (the slowest runs here take well under a second)
HANG_SECONDS = 20.0
#: how long leftovers may take to end on their own once a run has returned
SETTLE_SECONDS = 5.0

MODES = ("fail", "items", "cancel")
IN_PROCESS = ("inline", "threads", "asyncio", "execute")


# -- the plan of one example ---------------------------------------------------------------------


@dataclass
class Plan:
    mode: str
    faults: Faults = field(default_factory=Faults)
    #: the fault meant to fail the run (mode "fail"), as (node, index)
    fail: tuple[str, tuple[int, ...]] | None = None
    #: cancel after this many node calls in this process (mode "cancel")
    cancel_at: int | None = None

    def __str__(self) -> str:
        return (
            f"mode={self.mode} calls={self.faults.calls} after={self.faults.after}"
            f" cancel_at={self.cancel_at}"
        )


def _inside(index: tuple[int, ...], item: tuple[int, ...]) -> bool:
    """Whether a call at ``index`` belongs to the item ``item`` (or one nested in it)."""
    return index[: len(item)] == item


def draw_plan(
    data: st.DataObject, calls: list[Call], mode: str, parent_calls: Callable[[list[Call]], int]
) -> Plan:
    """A fault plan over ``calls`` (the calls of a clean run) whose outcome is certain."""
    plan = Plan(mode)
    kinds = st.sampled_from(FAULT_KINDS)

    def inject(call: Call) -> None:
        where = (call.node, call.index)
        if call.kind == "expand" and call.style in GENERATOR_STYLES:
            k = data.draw(st.integers(0, call.items), label=f"after k items of {call.node}")
            plan.faults.after[where] = (k, data.draw(kinds, label="kind"))
        else:
            plan.faults.calls[where] = data.draw(kinds, label="kind")

    # item faults: on calls under skip/deliver, on distinct items none inside another
    candidates = [c for c in calls if c.index and c.policy != "fail"]
    ended: list[tuple[int, ...]] = []
    if candidates:
        picks = data.draw(
            st.lists(st.sampled_from(candidates), max_size=3, unique=True), label="item faults"
        )
        for call in picks:
            if any(_inside(call.index, e) or _inside(e, call.index) for e in ended):
                continue
            ended.append(call.index)
            inject(call)
    if mode == "fail":
        fatal = [
            c for c in calls if c.policy == "fail" and not any(_inside(c.index, e) for e in ended)
        ]
        if fatal:
            call = data.draw(st.sampled_from(fatal), label="failing call")
            plan.fail = (call.node, call.index)
            inject(call)
    elif mode == "cancel":
        total = max(1, parent_calls(calls))
        plan.cancel_at = data.draw(st.integers(1, total + 1), label="cancel after call")
    return plan


# -- what a run reports back ---------------------------------------------------------------------


class Recorder:
    """The parent's end of ``FAULTS``: generator events, anomalies, and the call counter that
    cancels a run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[tuple[Any, ...]] = []
        self.calls = 0
        self.cancel_at: int | None = None
        self._cancel: Callable[[], None] | None = None

    def sink(self, event: tuple[Any, ...]) -> None:
        with self._lock:
            self.events.append(event)

    def tick(self, name: str) -> None:
        with self._lock:
            self.calls += 1
            fire = self.calls == self.cancel_at
            cancel = self._cancel
        if fire and cancel is not None:
            cancel()

    def arm(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any], n: int | None) -> None:
        """Cancel ``task`` (from its loop) once the n-th node call has been made."""
        with self._lock:
            self.cancel_at = n
            self._cancel = lambda: loop.call_soon_threadsafe(task.cancel)

    def generators(self) -> tuple[Counter[Any], Counter[Any]]:
        with self._lock:
            opened = Counter(e[1:] for e in self.events if e[0] == "open")
            closed = Counter(e[1:] for e in self.events if e[0] == "close")
        return opened, closed

    def anomalies(self) -> list[tuple[Any, ...]]:
        with self._lock:
            return [e for e in self.events if e[0] == "anomaly"]


def install(module: types.ModuleType, plan: Plan, recorder: Recorder, log: str | None) -> None:
    """Fill the module's fault table for one run (a new driver per run: a block's plan, and
    the table with it, is pickled for worker processes once per driver)."""
    module.FAULTS.update(
        plan.faults.table(),
        tick=ParentOnly(recorder.tick),
        sink=ParentOnly(recorder.sink),
        log=log,
    )


@dataclass
class Outcome:
    kind: str  # "ok" | "error" | "cancelled"
    value: Any = None

    def describe(self) -> str:
        if self.kind == "error":
            return "".join(traceback.format_exception(self.value))
        return f"{self.kind}: {self.value!r}"


async def run_aexecute(
    dr: Any, outputs: list[str], inputs: dict[str, int], recorder: Recorder, cancel_at: int | None
) -> Outcome:
    before = asyncio.all_tasks()
    task = asyncio.ensure_future(dr.aexecute(outputs, inputs=inputs))
    recorder.arm(asyncio.get_running_loop(), task, cancel_at)
    done, _ = await asyncio.wait({task}, timeout=HANG_SECONDS)
    if not done:
        task.cancel()
        with anyio.fail_after(HANG_SECONDS):
            await asyncio.wait({task})
        raise AssertionError(f"the run hung for {HANG_SECONDS} s")
    left = asyncio.all_tasks() - before
    assert not left, f"tasks of the run are still there: {left}"
    if task.cancelled():
        return Outcome("cancelled")
    exc = task.exception()
    return Outcome("error", exc) if exc is not None else Outcome("ok", task.result())


async def run_execute(dr: Any, outputs: list[str], inputs: dict[str, int]) -> Outcome:
    """``execute()``, from a worker thread of anyio's (it has a private loop per thread)."""

    def call() -> Outcome:
        try:
            return Outcome("ok", dr.execute(outputs, inputs=inputs))
        except BaseException as exc:
            return Outcome("error", exc)

    with anyio.fail_after(HANG_SECONDS):
        result: Outcome = await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
    return result


# -- the invariants ------------------------------------------------------------------------------


async def wait_until(condition: Callable[[], bool], what: Callable[[], str]) -> None:
    """A bounded wait for ``condition``, which becomes true on another thread or process."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"after {SETTLE_SECONDS} s: {what()}")
        await anyio.sleep(0.002)


def check_outcome(
    outcome: Outcome, expected: dict[str, Any] | RunFailed, plan: Plan, module: types.ModuleType
) -> None:
    if isinstance(expected, RunFailed):
        assert outcome.kind == "error", f"expected {expected.node} at {expected.index} to fail"
        check_error(outcome.value, expected, module)
        return
    if outcome.kind == "cancelled" and plan.mode == "cancel":
        return
    assert outcome.kind == "ok", f"expected the run to succeed, got {outcome.describe()}"
    assert comparable(outcome.value) == comparable(expected), (
        f"the result differs from the reference: {outcome.value!r} != {expected!r}"
    )


def check_error(err: BaseException, expected: RunFailed, module: types.ModuleType) -> None:
    text = "".join(traceback.format_exception(err))
    assert isinstance(err, NodeExecutionError), f"not a NodeExecutionError:\n{text}"
    assert (err.node, err.index) == (expected.node, expected.index), f"wrong node/item:\n{text}"
    cls = {
        "plain": module.Injected,
        "timeout": module.InjectedTimeout,
        "cancelled": asyncio.CancelledError,
    }[expected.kind]
    cause = err.__cause__
    assert type(cause) is cls, f"__cause__ is {type(cause)!r}, not {cls!r}:\n{text}"
    assert (getattr(cause, "node", None), getattr(cause, "index", None)) == (
        expected.node,
        expected.index,
    ), f"__cause__ is not the injected exception:\n{text}"
    if expected.kind == "cancelled":
        assert not isinstance(err, asyncio.CancelledError), "a node's error reads as a cancel"
    else:
        assert isinstance(err, cls), f"the error is not also an instance of {cls!r}"
    if expected.kind == "timeout":
        assert isinstance(err, NodeTimeoutError)


def thread_pools(execs: list[Any]) -> list[Any]:
    pools = [_streams.PUMP_POOL, executors._SPARE_THREADS]
    for ex in execs:
        if isinstance(ex, (executors.AsyncioExecutor, executors.MultiThreadingExecutor)):
            pools.append(ex.pool())
    return pools


def executors_of(dr: Any) -> list[Any]:
    return list({id(e): e for e in (dr.local, dr.remote)}.values())


async def check_left_behind(dr: Any, recorder: Recorder) -> None:
    """Nothing of the run still holds a thread, a slot or a generator."""
    execs = executors_of(dr)
    for ex in execs:
        if ex.slots is not None:
            stats = ex.slots.statistics()
            assert stats.borrowed == 0 and stats.waiting == 0, f"{ex!r} slots: {stats}"
    for pool in thread_pools(execs):
        await wait_until(lambda pool=pool: pool.busy == 0, lambda pool=pool: f"{pool} busy")

    def unclosed() -> Counter[Any]:
        opened, closed = recorder.generators()
        return opened - closed

    await wait_until(lambda: not unclosed(), lambda: f"generators never closed: {unclosed()}")
    opened, closed = recorder.generators()
    assert not closed - opened, f"generators closed twice: {closed - opened}"
    assert not recorder.anomalies(), f"calls that did not see themselves: {recorder.anomalies()}"


async def check_idle_before(dr: Any) -> None:
    for pool in thread_pools(executors_of(dr)):
        await wait_until(lambda pool=pool: pool.busy == 0, lambda pool=pool: f"{pool} busy before")


# -- building and running --------------------------------------------------------------------------


def builder(module: types.ModuleType, window: int, strategy: Any, label: str, proc: Any = None):
    base = driver.Builder().with_modules(module).with_window(window)
    base = base.with_grouping_strategy(strategy)
    if label == "inline":
        ex: Any = executors.SynchronousLocalTaskExecutor()
        return base.with_local_executor(ex).with_remote_executor(ex)
    if label == "threads":
        ex = executors.MultiThreadingExecutor(max_tasks=4)
        return base.with_local_executor(ex).with_remote_executor(ex)
    if label == "processes":
        return base.with_remote_executor(proc)
    return base


def expected_of(
    body: list[Spec], outputs: list[str], inputs: dict[str, int], faults: Faults
) -> dict[str, Any] | RunFailed:
    try:
        return Reference(body, outputs, faults).run(dict(inputs))
    except RunFailed as failed:
        return failed


def report(module: types.ModuleType, body: list[Spec], outputs: list[str], plan: Plan) -> str:
    return f"{describe(body, outputs)}\nplan: {plan}\n{module.__source__}"


def labelled(label: str, check: Callable[[], Any]) -> Any:
    try:
        return check()
    except AssertionError as exc:
        raise AssertionError(f"{label}: {exc}") from None


# -- the properties --------------------------------------------------------------------------------

#: examples per property; ASYNCDAG_HUNT=N multiplies them and draws fresh ones each run
HUNT = int(os.environ.get("ASYNCDAG_HUNT", "0"))
IN_PROCESS_EXAMPLES = 30 * max(1, HUNT)
PROCESS_EXAMPLES = 10 * max(1, HUNT)

COMMON = {
    "flow": dataflows(policies=True),
    "inputs": st.fixed_dictionaries({"x": st.integers(0, 30), "y": st.integers(0, 30)}),
    "window": st.sampled_from([1, 2, 1024]),
    "strategy": st.sampled_from(
        [grouping.GroupByRepeatableBlocks(), grouping.GroupNodesIndividually()]
    ),
    "mode": st.sampled_from(MODES),
    "data": st.data(),
}
SETTINGS = {
    "deadline": None,
    "derandomize": not HUNT,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


@settings(max_examples=IN_PROCESS_EXAMPLES, **SETTINGS)
@given(**COMMON)
def test_faults_in_process_leave_nothing_behind(
    flow: tuple[list[Spec], list[str]],
    inputs: dict[str, int],
    window: int,
    strategy: Any,
    mode: str,
    data: st.DataObject,
) -> None:
    body, outputs = flow
    clean = Reference(body, outputs)
    clean.run(dict(inputs))
    plan = draw_plan(data, clean.calls, mode, len)
    expected = expected_of(body, outputs, inputs, plan.faults)
    module = build_module(body)
    note(report(module, body, outputs, plan))
    noise: list[dict[str, Any]] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: noise.append(ctx))
        for label in IN_PROCESS:
            recorder = Recorder()
            install(module, plan, recorder, None)
            async with builder(module, window, strategy, label).build() as dr:
                await check_idle_before(dr)
                if label == "execute":  # sync: no task to cancel
                    outcome = await run_execute(dr, outputs, inputs)
                else:
                    outcome = await run_aexecute(dr, outputs, inputs, recorder, plan.cancel_at)
                labelled(label, lambda: check_outcome(outcome, expected, plan, module))
                try:
                    await check_left_behind(dr, recorder)
                except AssertionError as exc:
                    raise AssertionError(f"{label}: {exc}") from None
        gc.collect()  # a future nobody retrieved speaks when it is collected
        await anyio.sleep(0)

    anyio.run(main)
    assert not noise, f"the loop reported: {noise}"


@pytest.fixture(scope="module")
def processes() -> Iterator[executors.MultiProcessingExecutor]:
    ex = executors.MultiProcessingExecutor(max_tasks=2)
    yield ex
    ex.close()


def _worker_events(log: str) -> list[tuple[Any, ...]]:
    try:
        with open(log) as f:
            return [ast.literal_eval(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


async def check_workers(ex: Any, log: str, seen: set[int]) -> None:
    """The pool holds only live workers of its own; the workers that answered closed every
    generator they opened (a sync one closes on a pump thread, maybe after the answer)."""
    pool = ex.pool()
    pids = set(pool.worker_pids())
    assert len(pids) <= ex.max_tasks, f"{len(pids)} workers in a pool of {ex.max_tasks}"
    seen |= pids
    alive = {p.pid for p in multiprocessing.active_children()}
    assert pids <= alive, f"workers of the pool are dead: {pids - alive}"
    assert not (seen - pids) & alive, f"replaced workers still run: {(seen - pids) & alive}"

    def unclosed() -> Counter[Any]:
        events = [e for e in _worker_events(log) if e[0] in pids]
        opened = Counter(e[2:] for e in events if e[1] == "open")
        closed = Counter(e[2:] for e in events if e[1] == "close")
        return opened - closed

    await wait_until(lambda: not unclosed(), lambda: f"worker generators open: {unclosed()}")
    anomalies = [e for e in _worker_events(log) if e[1] == "anomaly"]
    assert not anomalies, f"worker calls that did not see themselves: {anomalies}"


@settings(max_examples=PROCESS_EXAMPLES, **SETTINGS)
@given(**COMMON)
def test_faults_on_processes_leave_nothing_behind(
    processes: executors.MultiProcessingExecutor,
    flow: tuple[list[Spec], list[str]],
    inputs: dict[str, int],
    window: int,
    strategy: Any,
    mode: str,
    data: st.DataObject,
) -> None:
    body, outputs = flow
    clean = Reference(body, outputs)
    clean_result = clean.run(dict(inputs))
    # only the calls outside blocks happen in this process: blocks run in the workers
    plan = draw_plan(data, clean.calls, mode, lambda calls: sum(1 for c in calls if not c.index))
    expected = expected_of(body, outputs, inputs, plan.faults)
    module = build_module(body)
    note(report(module, body, outputs, plan))
    noise: list[dict[str, Any]] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: noise.append(ctx))
        seen = set(processes.pool().worker_pids())
        runs = [("faults", plan, expected), ("the next run", Plan("items"), clean_result)]
        with tempfile.TemporaryDirectory() as tmp:
            for n, (label, run_plan, run_expected) in enumerate(runs):
                recorder = Recorder()
                log = os.path.join(tmp, f"run{n}.log")
                install(module, run_plan, recorder, log)
                # not closed: closing a driver closes its executors, and this one is shared
                dr = builder(module, window, strategy, "processes", processes).build()
                try:
                    await check_idle_before(dr)
                    outcome = await run_aexecute(dr, outputs, inputs, recorder, run_plan.cancel_at)
                    labelled(label, lambda: check_outcome(outcome, run_expected, run_plan, module))
                    try:
                        await check_left_behind(dr, recorder)
                        await check_workers(processes, log, seen)
                    except AssertionError as exc:
                        raise AssertionError(f"{label}: {exc}") from None
                finally:
                    dr.local.close()
        gc.collect()
        await anyio.sleep(0)

    anyio.run(main)
    assert not noise, f"the loop reported: {noise}"
