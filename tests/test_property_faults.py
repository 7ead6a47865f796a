"""Property-based, with faults: random nested dataflows fail, end items and are cancelled at
random points on every executor, and leave nothing behind.

Each example draws a dataflow (``tests/property_dataflows.py``, with ``on_error`` policies on
some nodes), asks the reference evaluator which calls it makes, and draws a fault plan over
those calls, in one of these modes:

- ``fail``: one call whose error policy fails the run raises (a generator: after k items),
  maybe with item faults elsewhere; the run must raise ``NodeExecutionError`` naming exactly
  that node and item, with the injected exception as ``__cause__`` and its class as a base.
  On processes the failing call may instead SIGKILL its worker: ``WorkerDiedError`` naming the
  item's expander;
- ``items``: only calls under ``on_error("skip")`` / ``on_error("deliver")`` raise; the run
  must return what the reference gives with those items left out or delivered as
  ``ItemFailure``;
- ``cancel``: the run is cancelled after the n-th node call made in this process (maybe with
  item faults too): the awaiting task is cancelled, or an anyio cancel scope around the call
  is, or (``astream``) the reader leaves its loop; the run must end cancelled, or return the
  reference's result if it had finished;
- ``hook``: a lifecycle hook (node or task, before or after) raises at its n-th call; the run
  must raise ``HookError`` naming that hook, its exception as ``__cause__``.

The fault plans never make the outcome depend on timing: item faults sit on distinct items
none of which contains another, and the failing call is not inside an item that ends.

After every run, failed or cancelled: no task of the run is left on the loop, no thread of
the run is busy (the executor's pool, the pump pool, the spare pool), every executor slot is
back, every generator that started was closed, every node saw its own call in
``current_call()``, hooks came in pairs (no "after" without its "before", each call once; a
run that returned closed every pair and reported each ended item's outcome), the next run on
the same driver returns the clean result; once the driver is closed none of its threads is
left. On processes the pool holds only live workers of its own, and once the executor is
closed no worker process or reader thread is left. Successful runs match the reference
exactly, ``astream`` event for event.

Entry points and executors: ``aexecute`` on inline, ``MultiThreadingExecutor`` and the default
``AsyncioExecutor``; ``execute()`` (from a thread, no cancellation); ``astream``;
``MultiProcessingExecutor(processes=2)`` (one for the module: workers are slow to start); and
``execute()`` on the main thread interrupted by a real SIGINT (Ctrl-C).

Examples are few and fixed (``derandomize``) so that ``make test`` stays short and repeatable;
``ASYNCDAG_HUNT=N`` multiplies them and draws fresh ones each run (the ``faults-hunt``
profile).
"""

from __future__ import annotations

import ast
import asyncio
import gc
import multiprocessing
import os
import signal
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
from hypothesis import HealthCheck, Phase, assume, given, note, settings
from hypothesis import strategies as st

from asyncdag import driver
from asyncdag.errors import (
    HookError,
    NodeExecutionError,
    NodeTimeoutError,
    WorkerDiedError,
)
from asyncdag.execution import _streams, executors, grouping
from asyncdag.lifecycle import api
from tests.property_dataflows import (
    FAULT_KINDS,
    GENERATOR_STYLES,
    Call,
    Faults,
    ParentOnly,
    Reference,
    RunFailed,
    Spec,
    block_names,
    build_module,
    comparable,
    dataflows,
    describe,
)

#: a run that takes longer than this hung (the slowest runs here take well under a second)
HANG_SECONDS = 20.0
#: how long leftovers may take to end on their own once a run has returned
SETTLE_SECONDS = 5.0

MODES = ("fail", "items", "cancel", "hook")
IN_PROCESS = ("inline", "threads", "asyncio", "execute", "astream")
CANCEL_HOWS = ("task", "scope", "break")


#: threads the engine shares between drivers and keeps for a while, and anyio's (the test's
#: own ``to_thread``): they may outlive a driver
SHARED_THREADS = ("asyncdag-pump", "asyncdag-sync", "asyncdag-close", "AnyIO worker thread")


# -- the plan of one example ---------------------------------------------------------------------


@dataclass
class Plan:
    mode: str
    faults: Faults = field(default_factory=Faults)
    #: the fault meant to fail the run (mode "fail"), as (node, index)
    fail: tuple[str, tuple[int, ...]] | None = None
    #: cancel after this many node calls in this process (mode "cancel")
    cancel_at: int | None = None
    #: how: "task" (cancel the awaiting task), "scope" (an anyio cancel scope), "break"
    #: (astream: the reader leaves; elsewhere as "task")
    cancel_how: str = "task"
    #: mode "hook": the n-th hook call raises
    hook_at: int | None = None

    def __str__(self) -> str:
        return (
            f"mode={self.mode} calls={self.faults.calls} after={self.faults.after}"
            f" cancel_at={self.cancel_at} cancel_how={self.cancel_how} hook_at={self.hook_at}"
        )


def _inside(index: tuple[int, ...], item: tuple[int, ...]) -> bool:
    """Whether a call at ``index`` belongs to the item ``item`` (or one nested in it)."""
    return index[: len(item)] == item


def draw_plan(
    data: st.DataObject,
    calls: list[Call],
    mode: str,
    parent_calls: Callable[[list[Call]], int],
    *,
    die: bool = False,
) -> Plan:
    """A fault plan over ``calls`` (the calls of a clean run) whose outcome is certain. With
    ``die``, a failing call inside a block may kill its worker process instead of raising."""
    plan = Plan(mode)

    def kinds(call: Call, fatal: bool) -> st.SearchStrategy[str]:
        allowed = list(FAULT_KINDS)
        if die and fatal and call.index:
            allowed += ["die"] * len(allowed)  # half the failing calls in blocks kill a worker
        return st.sampled_from(allowed)

    def inject(call: Call, fatal: bool = False) -> None:
        where = (call.node, call.index)
        kind = data.draw(kinds(call, fatal), label=f"kind at {where}")
        if call.kind == "expand" and call.style in GENERATOR_STYLES:
            k = data.draw(st.integers(0, call.items), label=f"after k items of {call.node}")
            plan.faults.after[where] = (k, kind)
        else:
            plan.faults.calls[where] = kind

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
            inject(call, fatal=True)
    elif mode == "cancel":
        total = max(1, parent_calls(calls))
        plan.cancel_at = data.draw(st.integers(1, total + 1), label="cancel after call")
        plan.cancel_how = data.draw(st.sampled_from(CANCEL_HOWS), label="cancel how")
    elif mode == "hook":
        # node hooks twice per call, task hooks twice per item: a bound well past the end
        # leaves some runs where no hook raises
        total = 2 * len(calls) + 2 * sum(c.items for c in calls)
        plan.hook_at = data.draw(st.integers(1, total + 2), label="hook call that raises")
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

    def arm(self, cancel: Callable[[], None] | None, n: int | None) -> None:
        """Call ``cancel`` (from any thread) once the n-th node call has been made."""
        with self._lock:
            self.cancel_at = n
            self._cancel = cancel

    def generators(self) -> tuple[Counter[Any], Counter[Any]]:
        with self._lock:
            opened = Counter(e[1:] for e in self.events if e[0] == "open")
            closed = Counter(e[1:] for e in self.events if e[0] == "close")
        return opened, closed

    def anomalies(self) -> list[tuple[Any, ...]]:
        with self._lock:
            return [e for e in self.events if e[0] == "anomaly"]


class InjectedHookError(Exception):
    pass


class Hooks(api.NodeExecutionHook, api.TaskExecutionHook):
    """Records node and task hook calls; the ``raise_at``-th of them raises."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset(None)

    def reset(self, raise_at: int | None) -> None:
        """Forget the last run's calls; in the next, the ``raise_at``-th hook call raises."""
        self.events: list[tuple[Any, ...]] = []
        self.raise_at = raise_at
        self.raised: tuple[str, InjectedHookError] | None = None

    def _record(self, hook: str, *event: Any) -> None:
        with self._lock:
            self.events.append((hook, *event))
            fire = len(self.events) == self.raise_at
        if fire:
            exc = InjectedHookError(f"injected into {hook} at {event}")
            self.raised = (hook, exc)
            raise exc

    def run_before_node_execution(self, *, node_name: str, **kw: Any) -> None:
        self._record("run_before_node_execution", node_name, kw.get("index"))

    def run_after_node_execution(self, *, node_name: str, **kw: Any) -> None:
        self._record("run_after_node_execution", node_name, kw.get("index"), kw.get("success"))

    def run_before_task_execution(self, *, task_id: str, **kw: Any) -> None:
        self._record("run_before_task_execution", (kw.get("expander"), kw.get("index")))

    def run_after_task_execution(self, *, task_id: str, **kw: Any) -> None:
        self._record(
            "run_after_task_execution", (kw.get("expander"), kw.get("index")), kw.get("outcome")
        )

    def pairs(self) -> tuple[Counter[Any], Counter[Any], Counter[Any], Counter[Any]]:
        with self._lock:
            events = list(self.events)
        node_before = Counter(e[1:3] for e in events if e[0] == "run_before_node_execution")
        node_after = Counter(e[1:3] for e in events if e[0] == "run_after_node_execution")
        task_before = Counter(e[1] for e in events if e[0] == "run_before_task_execution")
        task_after = Counter(e[1] for e in events if e[0] == "run_after_task_execution")
        return node_before, node_after, task_before, task_after

    def ended_tasks(self) -> dict[Any, str]:
        """The outcome of each task an error policy ended, by index (two expanders at the top
        share indices, and only one of them can have ended a given item)."""
        with self._lock:
            return {
                e[1][1]: e[2]
                for e in self.events
                if e[0] == "run_after_task_execution" and e[2] != "done"
            }


def install(module: types.ModuleType, plan: Plan, recorder: Recorder, log: str | None) -> None:
    """Fill the module's fault table for one run. A block's plan, and the table with it, is
    pickled for worker processes once per driver: on processes each run has its own driver."""
    module.FAULTS.update(
        plan.faults.table(),
        tick=ParentOnly(recorder.tick),
        sink=ParentOnly(recorder.sink),
        log=log,
        parent=os.getpid(),
    )


@dataclass
class Outcome:
    kind: str  # "ok" | "error" | "cancelled" (the run ended because it was cancelled)
    value: Any = None
    #: astream: the (kind, name, index, value) of every event read
    events: list[tuple[str, str, tuple[int, ...], Any]] = field(default_factory=list)

    def describe(self) -> str:
        if self.kind == "error":
            return "".join(traceback.format_exception(self.value))
        return f"{self.kind}: {self.value!r}"


async def _stream(dr: Any, outputs: list[str], inputs: dict[str, int], stop: Any) -> Outcome:
    outcome = Outcome("ok")
    agen = dr.astream(outputs, inputs=inputs)
    try:
        async for event in agen:
            if event.kind == "result":
                outcome.value = event.value
            else:
                outcome.events.append((event.kind, event.node, tuple(event.index), event.value))
            if stop.is_set():
                outcome.kind = "cancelled"  # the reader leaves: the run is cancelled
                break
    finally:
        await agen.aclose()
    return outcome


async def run_aexecute(
    dr: Any,
    outputs: list[str],
    inputs: dict[str, int],
    recorder: Recorder,
    plan: Plan,
    *,
    stream: bool = False,
) -> Outcome:
    """One run under ``aexecute`` (or ``astream``), cancelled as the plan says; no task of
    the run may be left once it has ended."""
    loop = asyncio.get_running_loop()
    before = asyncio.all_tasks()
    stop = threading.Event()
    scope = anyio.CancelScope()

    async def run() -> Outcome:
        with scope:
            if stream:
                return await _stream(dr, outputs, inputs, stop)
            return Outcome("ok", await dr.aexecute(outputs, inputs=inputs))
        return Outcome("cancelled")  # the scope's cancellation ended the run

    task = asyncio.ensure_future(run())
    how = plan.cancel_how
    if how == "scope":
        cancel: Callable[[], None] = lambda: loop.call_soon_threadsafe(scope.cancel)  # noqa: E731
    elif how == "break" and stream:
        cancel = stop.set
    else:
        cancel = lambda: loop.call_soon_threadsafe(task.cancel)  # noqa: E731
    recorder.arm(cancel, plan.cancel_at)
    done, _ = await asyncio.wait({task}, timeout=HANG_SECONDS)
    if not done:
        task.cancel()
        with anyio.fail_after(HANG_SECONDS):
            await asyncio.wait({task})
        raise AssertionError(f"the run hung for {HANG_SECONDS} s")
    recorder.arm(None, None)
    left = asyncio.all_tasks() - before
    assert not left, f"tasks of the run are still there: {left}"
    if task.cancelled():
        return Outcome("cancelled")
    exc = task.exception()
    return Outcome("error", exc) if exc is not None else task.result()


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


def wait_until_sync(condition: Callable[[], bool], what: Callable[[], str]) -> None:
    """A bounded wait for ``condition``, which becomes true on another thread or process."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"after {SETTLE_SECONDS} s: {what()}")
        time.sleep(0.002)


async def wait_until(condition: Callable[[], bool], what: Callable[[], str]) -> None:
    """:func:`wait_until_sync` without blocking the loop."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"after {SETTLE_SECONDS} s: {what()}")
        await anyio.sleep(0.002)


def check_outcome(
    outcome: Outcome,
    expected: dict[str, Any] | RunFailed,
    plan: Plan,
    module: types.ModuleType,
    hooks: Hooks | None,
    reference: Reference | None = None,
) -> None:
    if hooks is not None and hooks.raised is not None:
        hook, exc = hooks.raised
        assert outcome.kind == "error", f"{hook} raised, yet the run gave {outcome.describe()}"
        err = outcome.value
        text = "".join(traceback.format_exception(err))
        assert isinstance(err, HookError), f"a hook's error is not a HookError:\n{text}"
        assert (err.hook, err.adapter) == (hook, "Hooks"), f"wrong hook named:\n{text}"
        assert err.__cause__ is exc, f"__cause__ is not the hook's exception:\n{text}"
        return
    if isinstance(expected, RunFailed):
        assert outcome.kind == "error", f"expected {expected.node} at {expected.index} to fail"
        check_error(outcome.value, expected, module)
        return
    if outcome.kind == "cancelled" and plan.mode == "cancel":
        return
    assert outcome.kind == "ok", f"expected the run to succeed, got {outcome.describe()}"
    if reference is None:  # aexecute, execute
        assert comparable(outcome.value) == comparable(expected), (
            f"the result differs from the reference: {outcome.value!r} != {expected!r}"
        )
        return
    check_stream(outcome, expected, reference)


def check_stream(outcome: Outcome, expected: dict[str, Any], reference: Reference) -> None:
    """astream: the result event holds the outputs outside blocks; each in-block output
    arrives once per item that completed, with the reference's value; each ended item
    arrives as one failure event carrying the injected error."""
    in_block = {n for s in reference.body if s.kind == "expand" for n in block_names(s.body)}
    outer = {k: v for k, v in expected.items() if k not in in_block}
    assert comparable(outcome.value) == comparable(outer), (
        f"astream's result differs: {outcome.value!r} != {outer!r}"
    )
    ended = [m.index for m in reference.ended]

    def kept(index: tuple[int, ...]) -> bool:
        return not any(_inside(index, e) for e in ended)

    wanted = set(expected)
    want = {
        (name, index): v
        for (name, index), v in reference.values.items()
        if name in wanted and kept(index)
    }
    # outputs outside blocks arrive as events too, at index ()
    want.update({(name, ()): v for name, v in outer.items() if name in reference.needed})
    got_items = [(n, i, v) for kind, n, i, v in outcome.events if kind == "item" and kept(i)]
    got = {(n, i): v for n, i, v in got_items}
    assert len(got) == len(got_items), f"an item's output arrived twice: {got_items}"
    assert got == want, f"astream's item events differ: {got} != {want}"
    failures = [(i, comparable(v)) for kind, _, i, v in outcome.events if kind == "failure"]
    markers = [(m.index, comparable(m)) for m in reference.ended]
    assert sorted(failures, key=repr) == sorted(markers, key=repr), (
        f"astream's failure events differ: {failures} != {markers}"
    )


def check_error(err: BaseException, expected: RunFailed, module: types.ModuleType) -> None:
    text = "".join(traceback.format_exception(err))
    if expected.kind == "die":
        assert isinstance(err, WorkerDiedError), f"not a WorkerDiedError:\n{text}"
        assert f"of {expected.outer!r}" in str(err), f"{expected.outer!r} not named:\n{text}"
        return
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


def check_hooks(hooks: Hooks, outcome: Outcome, reference: Reference | None) -> None:
    """No "after" without its "before", each call once; a run that returned closed every
    pair, and each item's task ended with the outcome its error policy says."""
    node_before, node_after, task_before, task_after = hooks.pairs()
    assert all(n == 1 for n in node_before.values()), f"a node call started twice: {node_before}"
    assert all(n == 1 for n in task_before.values()), f"a task started twice: {task_before}"
    assert not node_after - node_before, f"node hooks after no before: {node_after - node_before}"
    assert not task_after - task_before, f"task hooks after no before: {task_after - task_before}"
    if outcome.kind != "ok":
        return
    assert node_after == node_before, f"node calls never ended: {node_before - node_after}"
    assert task_after == task_before, f"tasks never ended: {task_before - task_after}"
    if reference is not None:
        name = {"skip": "skipped", "deliver": "delivered"}
        ended = {m.index: name[m.policy] for m in reference.ended}
        got = hooks.ended_tasks()
        assert got == ended, f"tasks' outcomes differ from the ended items: {got} != {ended}"


def thread_pools(execs: list[Any]) -> list[Any]:
    pools = [_streams.PUMP_POOL, executors._SPARE_THREADS]
    for ex in execs:
        if isinstance(ex, (executors.AsyncioExecutor, executors.MultiThreadingExecutor)):
            pools.append(ex.pool())
    return pools


def executors_of(dr: Any) -> list[Any]:
    return list({id(e): e for e in (dr.local, dr.remote)}.values())


async def check_slots_and_threads(dr: Any) -> None:
    """Every executor slot is back and no pool thread is busy."""
    execs = executors_of(dr)
    for ex in execs:
        if ex.slots is not None:
            stats = ex.slots.statistics()
            assert stats.borrowed == 0 and stats.waiting == 0, f"{ex!r} slots: {stats}"
    for pool in thread_pools(execs):
        await wait_until(lambda pool=pool: pool.busy == 0, lambda pool=pool: f"{pool} busy")


async def check_left_behind(dr: Any, recorder: Recorder) -> None:
    """Nothing of the run still holds a thread, a slot or a generator."""
    await check_slots_and_threads(dr)

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


def own_threads(baseline: set[threading.Thread]) -> list[threading.Thread]:
    """Threads started since ``baseline`` that are not shared between drivers."""
    return [
        t
        for t in threading.enumerate()
        if t not in baseline and t.is_alive() and not t.name.startswith(SHARED_THREADS)
    ]


def check_no_thread_left(baseline: set[threading.Thread]) -> None:
    wait_until_sync(
        lambda: not own_threads(baseline), lambda: f"threads left: {own_threads(baseline)}"
    )


# -- building and running --------------------------------------------------------------------------


def builder(
    module: types.ModuleType,
    window: int,
    strategy: Any,
    label: str,
    proc: Any = None,
    hooks: Hooks | None = None,
) -> Any:
    base = driver.Builder().with_modules(module).with_window(window)
    base = base.with_grouping_strategy(strategy)
    if hooks is not None:
        base = base.with_adapters(hooks)
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
) -> tuple[dict[str, Any] | RunFailed, Reference]:
    reference = Reference(body, outputs, faults)
    try:
        return reference.run(dict(inputs)), reference
    except RunFailed as failed:
        return failed, reference


def report(module: types.ModuleType, body: list[Spec], outputs: list[str], plan: Plan) -> str:
    return f"{describe(body, outputs)}\nplan: {plan}\n{module.__source__}"


def labelled(label: str, check: Callable[[], Any]) -> Any:
    try:
        return check()
    except AssertionError as exc:
        raise AssertionError(f"{label}: {exc}") from None


async def alabelled(label: str, check: Any) -> Any:
    try:
        return await check
    except AssertionError as exc:
        raise AssertionError(f"{label}: {exc}") from None


def quiet_loop(noise: list[dict[str, Any]]) -> None:
    """Anything the loop reports (a future nobody retrieved...) is a failure."""
    asyncio.get_running_loop().set_exception_handler(lambda _, ctx: noise.append(ctx))


# -- the properties --------------------------------------------------------------------------------

#: examples per property; ASYNCDAG_HUNT=N multiplies them and draws fresh ones each run
HUNT = int(os.environ.get("ASYNCDAG_HUNT", "0"))
settings.register_profile(
    "faults-ci",
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)
settings.register_profile(
    "faults-hunt",
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)
PROFILE = settings.get_profile("faults-hunt" if HUNT else "faults-ci")
IN_PROCESS_EXAMPLES = 60 * max(1, HUNT)
PROCESS_EXAMPLES = 50 * max(1, HUNT)
INTERRUPT_EXAMPLES = 40 * max(1, HUNT)

#: a passing property takes seconds; a failing one shrinks its example for minutes, and must
#: get to print it
SHRINK_TIMEOUT = 300

COMMON = {
    "flow": dataflows(policies=True, expander_policies=True),
    "inputs": st.fixed_dictionaries({"x": st.integers(0, 30), "y": st.integers(0, 30)}),
    "window": st.sampled_from([1, 2, 1024]),
    "strategy": st.sampled_from(
        [grouping.GroupByRepeatableBlocks(), grouping.GroupNodesIndividually()]
    ),
    "mode": st.sampled_from(MODES),
    "with_hooks": st.booleans(),
    "data": st.data(),
}


async def one_run(
    dr: Any,
    label: str,
    module: types.ModuleType,
    outputs: list[str],
    inputs: dict[str, int],
    plan: Plan,
    expected: dict[str, Any] | RunFailed,
    reference: Reference,
    hooks: Hooks | None,
    log: str | None = None,
) -> None:
    """Run ``plan`` on ``dr`` and check every invariant after it."""
    recorder = Recorder()
    install(module, plan, recorder, log)
    if hooks is not None:
        hooks.reset(plan.hook_at)
    await alabelled(label, check_idle_before(dr))
    if label == "execute":  # sync: no task to cancel
        outcome = await run_execute(dr, outputs, inputs)
    else:
        outcome = await alabelled(
            label,
            run_aexecute(dr, outputs, inputs, recorder, plan, stream=label == "astream"),
        )
    stream_ref = reference if label == "astream" else None
    labelled(label, lambda: check_outcome(outcome, expected, plan, module, hooks, stream_ref))
    await alabelled(label, check_left_behind(dr, recorder))
    if hooks is not None:
        labelled(label, lambda: check_hooks(hooks, outcome, reference))


@pytest.mark.timeout(SHRINK_TIMEOUT)
@settings(PROFILE, max_examples=IN_PROCESS_EXAMPLES)
@given(**COMMON)
def test_faults_in_process_leave_nothing_behind(
    flow: tuple[list[Spec], list[str]],
    inputs: dict[str, int],
    window: int,
    strategy: Any,
    mode: str,
    with_hooks: bool,
    data: st.DataObject,
) -> None:
    body, outputs = flow
    clean = Reference(body, outputs)
    clean_result = clean.run(dict(inputs))
    plan = draw_plan(data, clean.calls, mode, len)
    expected, reference = expected_of(body, outputs, inputs, plan.faults)
    module = build_module(body)
    note(report(module, body, outputs, plan))
    # items mode always has hooks: the task hooks report each ended item's outcome
    hooks = Hooks() if with_hooks or mode in ("hook", "items") else None
    noise: list[dict[str, Any]] = []

    async def main() -> None:
        quiet_loop(noise)
        for label in IN_PROCESS:
            baseline = set(threading.enumerate())
            async with builder(module, window, strategy, label, hooks=hooks).build() as dr:
                await one_run(dr, label, module, outputs, inputs, plan, expected, reference, hooks)
                # the next run on the same driver is untouched by the faults of the last
                await one_run(
                    dr, f"{label}, the next run", module, outputs, inputs, Plan("items"),
                    clean_result, clean, hooks,
                )  # fmt: skip
            labelled(label, lambda: check_no_thread_left(baseline))
        gc.collect()  # a future nobody retrieved speaks when it is collected
        await anyio.sleep(0)

    anyio.run(main)
    assert not noise, f"the loop reported: {noise}"


@pytest.fixture(scope="module")
def processes() -> Iterator[executors.MultiProcessingExecutor]:
    baseline = set(threading.enumerate())
    ex = executors.MultiProcessingExecutor(processes=2)
    seen: set[int] = set()
    ex.seen = seen  # type: ignore[attr-defined]
    yield ex
    ex.close()
    alive = {p.pid for p in multiprocessing.active_children()}
    assert not seen & alive, f"workers still run after close(): {seen & alive}"
    check_no_thread_left(baseline)


def _worker_events(log: str) -> list[tuple[Any, ...]]:
    try:
        with open(log) as f:
            return [ast.literal_eval(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


async def check_workers(ex: Any, log: str) -> None:
    """The pool holds only live workers of its own; the workers that answered closed every
    generator they opened (a sync one closes on a pump thread, maybe after the answer)."""
    seen = ex.seen
    pool = ex.pool()
    pids = set(pool.worker_pids())
    assert len(pids) <= ex.processes, f"{len(pids)} workers in a pool of {ex.processes}"
    seen |= pids
    alive = {p.pid for p in multiprocessing.active_children()}
    assert pids <= alive, f"workers of the pool are dead: {pids - alive}"
    await wait_until(
        lambda: (
            not (seen - set(pool.worker_pids()))
            & {p.pid for p in multiprocessing.active_children()}
        ),
        lambda: f"replaced workers still run: {seen - pids}",
    )

    def unclosed() -> Counter[Any]:
        events = [e for e in _worker_events(log) if e[0] in pids]
        opened = Counter(e[2:] for e in events if e[1] == "open")
        closed = Counter(e[2:] for e in events if e[1] == "close")
        return opened - closed

    await wait_until(lambda: not unclosed(), lambda: f"worker generators open: {unclosed()}")
    anomalies = [e for e in _worker_events(log) if e[1] == "anomaly"]
    assert not anomalies, f"worker calls that did not see themselves: {anomalies}"


@pytest.mark.timeout(SHRINK_TIMEOUT)
@settings(PROFILE, max_examples=PROCESS_EXAMPLES)
@given(**COMMON)
def test_faults_on_processes_leave_nothing_behind(
    processes: executors.MultiProcessingExecutor,
    flow: tuple[list[Spec], list[str]],
    inputs: dict[str, int],
    window: int,
    strategy: Any,
    mode: str,
    with_hooks: bool,
    data: st.DataObject,
) -> None:
    body, outputs = flow
    clean = Reference(body, outputs)
    clean_result = clean.run(dict(inputs))
    assume(any(c.index for c in clean.calls))  # processes run blocks: have some items
    # only the calls outside blocks happen in this process: blocks run in the workers
    plan = draw_plan(
        data, clean.calls, mode, lambda calls: sum(1 for c in calls if not c.index), die=True
    )
    expected, reference = expected_of(body, outputs, inputs, plan.faults)
    module = build_module(body)
    note(report(module, body, outputs, plan))
    # items mode always has hooks: the task hooks report each ended item's outcome
    hooks = Hooks() if with_hooks or mode in ("hook", "items") else None
    noise: list[dict[str, Any]] = []

    async def main() -> None:
        quiet_loop(noise)
        runs = [
            ("faults", plan, expected, reference),
            ("the next run", Plan("items"), clean_result, clean),
        ]
        with tempfile.TemporaryDirectory() as tmp:
            for n, (label, run_plan, run_expected, run_reference) in enumerate(runs):
                log = os.path.join(tmp, f"run{n}.log")
                # not closed: closing a driver closes its executors, and this one is shared
                dr = builder(module, window, strategy, "processes", processes, hooks).build()
                try:
                    await one_run(
                        dr, label, module, outputs, inputs, run_plan, run_expected,
                        run_reference, hooks, log,
                    )  # fmt: skip
                    await alabelled(label, check_workers(processes, log))
                finally:
                    dr.local.close()
        gc.collect()
        await anyio.sleep(0)

    anyio.run(main)
    assert not noise, f"the loop reported: {noise}"


# -- Ctrl-C during execute() ---------------------------------------------------------------------


def _private_loop() -> asyncio.AbstractEventLoop | None:
    holder = getattr(driver._private, "holder", None)
    return None if holder is None else holder.loop


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals need the main thread"
)
@pytest.mark.timeout(SHRINK_TIMEOUT)
@settings(PROFILE, max_examples=INTERRUPT_EXAMPLES)
@given(
    flow=dataflows(policies=True, expander_policies=True),
    inputs=st.fixed_dictionaries({"x": st.integers(0, 30), "y": st.integers(0, 30)}),
    window=st.sampled_from([1, 2, 1024]),
    label=st.sampled_from(["inline", "threads", "asyncio"]),
    data=st.data(),
)
def test_ctrl_c_during_execute_cleans_up_and_the_next_run_is_untouched(
    flow: tuple[list[Spec], list[str]],
    inputs: dict[str, int],
    window: int,
    label: str,
    data: st.DataObject,
) -> None:
    """A real SIGINT at the n-th node call of ``execute()`` on the main thread: the call
    raises ``KeyboardInterrupt`` after the run is cleaned up (no task left on the private
    loop, no thread busy, every generator closed), and the next ``execute()`` returns the
    clean result."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("something else handles SIGINT here")
    body, outputs = flow
    clean = Reference(body, outputs)
    clean_result = clean.run(dict(inputs))
    plan = draw_plan(data, clean.calls, "cancel", len)
    expected, _ = expected_of(body, outputs, inputs, plan.faults)
    module = build_module(body)
    note(report(module, body, outputs, plan))
    main_thread = threading.main_thread().ident
    assert main_thread is not None
    strategy = grouping.GroupByRepeatableBlocks()
    with builder(module, window, strategy, label).build() as dr:
        for run_plan, run_expected in ((plan, expected), (Plan("items"), clean_result)):
            recorder = Recorder()
            install(module, run_plan, recorder, None)
            recorder.arm(
                lambda: signal.pthread_kill(main_thread, signal.SIGINT), run_plan.cancel_at
            )
            interrupted = False
            try:
                result = dr.execute(outputs, inputs=inputs)
            except KeyboardInterrupt:
                interrupted = True
            recorder.arm(None, None)
            fired = recorder.calls >= (run_plan.cancel_at or 0) > 0
            # the signal arrives while a node runs, so the run cannot have finished
            assert interrupted == fired, f"interrupted={interrupted}, signal sent={fired}"
            loop = _private_loop()
            assert loop is not None and not loop.is_closed()
            left = [t for t in asyncio.all_tasks(loop) if not t.done()]
            assert not left, f"tasks of the interrupted run are still there: {left}"
            if not interrupted:
                assert comparable(result) == comparable(run_expected)
            for pool in thread_pools(executors_of(dr)):
                wait_until_sync(lambda pool=pool: pool.busy == 0, lambda pool=pool: f"{pool} busy")
            opened, closed = recorder.generators()
            wait_until_sync(
                lambda: not (recorder.generators()[0] - recorder.generators()[1]),
                lambda: f"generators never closed: {opened - closed}",
            )
            assert not recorder.anomalies(), (
                f"calls that did not see themselves: {recorder.anomalies()}"
            )


# -- engine bugs the property found (regression tests; the rest are in test_engine_findings.py) --

NESTED_EXPANDER_SOURCE = """
from asyncdag.htypes import Collect, Parallelizable
from asyncdag.policies import on_error


def outer(n: int) -> Parallelizable[int]:
    return list(range(n))


@on_error("skip")
def inner(outer: int) -> Parallelizable[int]:
    if outer == 1:
        raise ValueError("inner cannot expand item 1")
    return [outer, outer]


def leaf(inner: int) -> int:
    return inner


def per_outer(leaf: Collect[int]) -> int:
    return sum(leaf)


def total(per_outer: Collect[int]) -> int:
    return sum(per_outer)
"""


@pytest.mark.parametrize("label", ["inline", "threads", "asyncio"])
def test_on_error_skip_on_a_nested_expander_ends_only_its_item(label: str) -> None:
    module = types.ModuleType("tests.dags_stream.nested_expander_skip")
    exec(compile(NESTED_EXPANDER_SOURCE, module.__name__, "exec"), module.__dict__)
    with builder(module, 1024, grouping.GroupByRepeatableBlocks(), label).build() as dr:
        # item 1 of outer is skipped: 0+0 (item 0) + 2+2 (item 2)
        assert dr.execute(["total"], inputs={"n": 3}) == {"total": 4}


GENERATOR_SOURCE = """
from asyncdag.htypes import Collect, Parallelizable

EVENTS = []


def items(n: int) -> Parallelizable[int]:
    EVENTS.append("open")
    try:
        yield from range(n)
    finally:
        EVENTS.append("close")


def leaf(items: int) -> int:
    if items == FAIL_AT:
        raise ValueError("leaf fails")
    return items


def total(leaf: Collect[int]) -> int:
    return sum(leaf)
"""


class RaisingTaskHook(api.TaskExecutionHook):
    def run_before_task_execution(self, **kwargs: Any) -> None:
        raise InjectedHookError("the task hook fails")

    def run_after_task_execution(self, **kwargs: Any) -> None:
        pass


@pytest.mark.parametrize("failure", ["node", "hook"])
def test_a_failed_run_closes_its_sync_generator_inline(failure: str) -> None:
    module = types.ModuleType("tests.dags_stream.failed_generator")
    exec(compile(GENERATOR_SOURCE, module.__name__, "exec"), module.__dict__)
    module.FAIL_AT = 0 if failure == "node" else None
    ex = executors.SynchronousLocalTaskExecutor()
    builder = driver.Builder().with_modules(module).with_local_executor(ex)
    builder = builder.with_remote_executor(ex)
    if failure == "hook":
        builder = builder.with_adapters(RaisingTaskHook())
    dr = builder.build()
    error = NodeExecutionError if failure == "node" else HookError

    async def main() -> None:
        async with dr:
            with pytest.raises(error), anyio.fail_after(5):
                await dr.aexecute(["total"], inputs={"n": 3})
            # a bounded wait: the generator may be closed off the loop, but not never
            with anyio.move_on_after(2):
                while module.EVENTS != ["open", "close"]:
                    await anyio.sleep(0.01)

    anyio.run(main)
    assert module.EVENTS == ["open", "close"]


EXPANDER_CANCELLED_SOURCE = """
import asyncio

from asyncdag.htypes import Collect, Parallelizable


def items(n: int) -> Parallelizable[int]:
    raise asyncio.CancelledError("raised by items itself")


def leaf(items: int) -> int:
    return items


def total(leaf: Collect[int]) -> int:
    return sum(leaf)
"""


@pytest.mark.parametrize("label", ["threads", "asyncio"])
def test_a_sync_expander_raising_cancelled_error_is_the_cause(label: str) -> None:
    module = types.ModuleType("tests.dags_stream.expander_cancelled")
    exec(compile(EXPANDER_CANCELLED_SOURCE, module.__name__, "exec"), module.__dict__)

    async def main() -> BaseException | None:
        dr = builder(module, 1024, grouping.GroupByRepeatableBlocks(), label).build()
        async with dr:
            try:
                with anyio.fail_after(5):
                    await dr.aexecute(["total"], inputs={"n": 3})
            except BaseException as exc:  # noqa: BLE001 - what the run raised is the subject
                return exc
        return None

    err = anyio.run(main)
    assert isinstance(err, NodeExecutionError) and (err.node, err.index) == ("items", ())
    assert type(err.__cause__) is asyncio.CancelledError
    assert str(err.__cause__) == "raised by items itself"
