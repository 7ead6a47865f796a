"""Property-based, with a cache: whatever faults and cancellations a run meets, a cached
rerun gives exactly what an uncached run gives, and a warm rerun calls no node.

Each example draws a random nested dataflow (``tests/property_dataflows.py``, with
``on_error`` policies), an entry point and a fault plan (``fail``, ``items`` or ``cancel``:
see ``tests/test_property_faults.py``), and runs it four times on one cache directory:

1. with the plan, on a cold cache: the outcome the reference gives for the plan's faults
   (a cancelled run may end cancelled);
2. with the same faults and no cancellation, after the process's stores are dropped (as a
   new process would find the directory): the reference's outcome again. The results that
   run 1 stored are read back, and what run 1 did not finish runs now. (With item faults the
   cache keeps no failures: an injected fault depends on the item's index, not on the node's
   inputs, and a failure kept as data is replayed to any call of the same inputs.)
3. a clean run: the clean reference's result (no failure was kept: none of a node that
   fails the run, and none at all with item faults);
4. the same clean run again, in the same process: the same result, and no node called but
   streaming collectors (``CollectStream``, ``CollectAsCompleted``), which always run, over
   items that are hits (as the README says); every other node, expander and collector hits.

The same on ``MultiProcessingExecutor(processes=2)``, where the blocks' nodes run and store
in worker processes, and the warm run's misses are read from ``dr.cache`` (their events are
relayed from the workers).

Examples are few and fixed (``derandomize``) so that ``make test`` stays short;
``ASYNCDAG_HUNT=N`` multiplies them and draws fresh ones.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st

from asyncdag.caching._store import forget_stores
from asyncdag.execution import executors, grouping
from tests.property_dataflows import Call, Reference, Spec, build_module, dataflows
from tests.test_property_faults import (
    HUNT,
    PROFILE,
    SHRINK_TIMEOUT,
    Outcome,
    Plan,
    Recorder,
    builder,
    check_outcome,
    draw_plan,
    expected_of,
    install,
    labelled,
    report,
    run_aexecute,
    run_execute,
)

EXAMPLES = 40 * max(1, HUNT)
PROCESS_EXAMPLES = 10 * max(1, HUNT)
LABELS = ("asyncio", "threads", "inline", "execute", "astream")


def _shared_inputs(plan: Plan, calls: list[Call]) -> bool:
    """Whether a call the plan makes fail has its inputs in common with another call of
    the same node."""
    faulted = {*plan.faults.calls, *plan.faults.after}
    inputs: dict[str, dict[str, set[tuple[int, ...]]]] = {}
    for call in calls:
        inputs.setdefault(call.node, {}).setdefault(call.inputs, set()).add(call.index)
    return any(
        len(indexes) > 1 and index in indexes
        for node, index in faulted
        for indexes in inputs.get(node, {}).values()
    )


def _streaming(body: list[Spec]) -> set[str]:
    """The streaming collectors of a dataflow, in blocks too."""
    found: set[str] = set()
    for spec in body:
        if spec.kind == "collect" and any(m != "list" for _, m in spec.collects):
            found.add(spec.name)
        found |= _streaming(spec.body)
    return found


class _Calls(Recorder):
    """The recorder of ``test_property_faults``, also naming the nodes called."""

    def __init__(self) -> None:
        super().__init__()
        self.names: Counter[str] = Counter()

    def tick(self, name: str) -> None:
        self.names[name] += 1
        super().tick(name)


async def _run(
    dr: Any, label: str, module: Any, outputs: list[str], inputs: dict[str, int], plan: Plan
) -> tuple[Outcome, Counter[str]]:
    """One run; its outcome and the nodes it called."""
    recorder = _Calls()
    install(module, plan, recorder, None)
    if label == "execute":
        outcome = await run_execute(dr, outputs, inputs)
    else:
        stream = label == "astream"
        outcome = await run_aexecute(dr, outputs, inputs, recorder, plan, stream=stream)
    return outcome, recorder.names


COMMON = {
    "flow": dataflows(policies=True, expander_policies=True),
    "inputs": st.fixed_dictionaries({"x": st.integers(0, 30), "y": st.integers(0, 30)}),
    "window": st.sampled_from([1, 2, 1024]),
    "strategy": st.sampled_from(
        [grouping.GroupByRepeatableBlocks(), grouping.GroupNodesIndividually()]
    ),
    "mode": st.sampled_from(("fail", "items", "cancel")),
    "data": st.data(),
}


def check_cached_reruns(
    flow: tuple[list[Spec], list[str]],
    inputs: dict[str, int],
    window: int,
    strategy: Any,
    mode: str,
    label: str,
    data: st.DataObject,
    proc: Any = None,
) -> None:
    """The four runs of the module docstring, on one cache directory."""
    body, outputs = flow
    clean = Reference(body, outputs)
    clean_result = clean.run(dict(inputs))
    plan = draw_plan(data, clean.calls, mode, len)
    expected, reference = expected_of(body, outputs, inputs, plan.faults)
    stream = label == "astream"  # its events are checked against the references too

    def check(step: str, outcome: Outcome, want: Any, plan: Plan, ref: Reference | None) -> None:
        labelled(step, lambda: check_outcome(outcome, want, plan, module, None, ref))

    module = build_module(body)
    note(report(module, body, outputs, plan))
    item_faults = any(where != plan.fail for where in [*plan.faults.calls, *plan.faults.after])
    # a fault sits on a call, not on inputs: where another call of the node gets the same
    # inputs (the same key), the cache rightly gives both one outcome, and the reference not
    assume(not _shared_inputs(plan, [*clean.calls, *reference.calls]))
    again = Plan("fail" if mode == "fail" else "items", plan.faults, plan.fail)
    streaming = _streaming(body)

    # An item fault depends on the item's index, not on the node's inputs: a failure kept as
    # data would be replayed, as it should, to another item of the same inputs, which the
    # reference lets succeed. With item faults, failures are not kept (their replay is
    # tested on nodes that fail by their inputs, in test_caching.py).
    options = {"cache_failures": False} if item_faults else {}

    @contextlib.asynccontextmanager
    async def cached(path: Path) -> AsyncIterator[Any]:
        dr = builder(module, window, strategy, label, proc).with_cache(path, **options).build()
        try:
            yield dr
        finally:
            if proc is None:  # (a process pool is the module's, closed at its end)
                await dr.aclose()

    async def main(path: Path) -> None:
        async with cached(path) as dr:
            first, _ = await _run(dr, label, module, outputs, inputs, plan)
            check("1. cold", first, expected, plan, reference if stream else None)
            assert dr.cache.flush(10)
        forget_stores()  # the directory as a new process finds it
        # the same driver for runs 2 to 4, but on processes, where a driver ships the fault
        # table to the workers once: there each run has a driver of its own
        async with cached(path) as dr:
            second, _ = await _run(dr, label, module, outputs, inputs, again)
            check("2. rerun", second, expected, again, reference if stream else None)
            async with cached(path) if proc is not None else contextlib.nullcontext(dr) as dr:
                third, _ = await _run(dr, label, module, outputs, inputs, Plan("items"))
                check("3. clean", third, clean_result, Plan("items"), clean if stream else None)
            async with cached(path) if proc is not None else contextlib.nullcontext(dr) as dr:
                fourth, calls = await _run(dr, label, module, outputs, inputs, Plan("items"))
                check("4. warm", fourth, clean_result, Plan("items"), clean if stream else None)
                ran = set(calls) - streaming  # (calls made in this process)
                assert not ran, f"4. warm ({label}): nodes called on a warm cache: {sorted(ran)}"
                missed = set(dr.cache.misses()) - streaming  # (workers' too: events relay)
                assert not missed, f"4. warm ({label}): misses on a warm cache: {sorted(missed)}"

    with tempfile.TemporaryDirectory(prefix="asyncdag-prop-cache-") as tmp:
        try:
            anyio.run(main, Path(tmp))
        finally:
            forget_stores()


@pytest.mark.timeout(SHRINK_TIMEOUT)
@settings(PROFILE, max_examples=EXAMPLES)
@given(label=st.sampled_from(LABELS), **COMMON)
def test_a_cached_rerun_gives_what_an_uncached_run_gives(
    flow: tuple[list[Spec], list[str]],
    inputs: dict[str, int],
    window: int,
    strategy: Any,
    mode: str,
    label: str,
    data: st.DataObject,
) -> None:
    check_cached_reruns(flow, inputs, window, strategy, mode, label, data)


@pytest.fixture(scope="module")
def processes() -> Iterator[executors.MultiProcessingExecutor]:
    ex = executors.MultiProcessingExecutor(processes=2)
    yield ex
    ex.close()


@pytest.mark.timeout(SHRINK_TIMEOUT)
@settings(PROFILE, max_examples=PROCESS_EXAMPLES)
@given(**COMMON)
def test_a_cached_rerun_on_processes_gives_what_an_uncached_run_gives(
    processes: executors.MultiProcessingExecutor,
    flow: tuple[list[Spec], list[str]],
    inputs: dict[str, int],
    window: int,
    strategy: Any,
    mode: str,
    data: st.DataObject,
) -> None:
    check_cached_reruns(flow, inputs, window, strategy, mode, "processes", data, processes)
