"""Items of a lone block (one async node reading only its item) run as one task each, with
no block instance (``asyncdag.execution._fanout._Lone``): the same values, errors, policies,
slots and cancellation as any item, and the route is taken only where nothing needs more."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncdag import driver, errors
from asyncdag.execution import _fanout, executors
from asyncdag.htypes import ItemFailure
from asyncdag.lifecycle import LifecycleHooks
from tests.dags_engine import lone, lone_plan

pytestmark = pytest.mark.anyio

ITEMS = list(range(40))


@pytest.fixture
def routed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many items took the lone route."""
    count: list[int] = []
    original = _fanout._Lone.run_item

    def counting(self: Any, exp: Any, i: int, item: Any, slotted: Any) -> Any:
        count.append(i)
        return original(self, exp, i, item, slotted)

    monkeypatch.setattr(_fanout._Lone, "run_item", counting)
    for seen in lone.SEEN.values():
        seen.clear()
    yield count


def _slots_back(dr: driver.Driver) -> None:
    slots = dr.remote.slots
    assert slots is not None
    assert slots.statistics().borrowed == 0


async def test_values_in_yield_order_from_every_kind_of_source(routed: list[int]) -> None:
    dr = driver.Builder().with_modules(lone).build()
    out = await dr.aexecute(
        ["doubled_all", "items_seen", "listed_all", "async_all"], inputs={"items": ITEMS}
    )
    doubled = [2 * i for i in ITEMS]
    assert out == {
        "doubled_all": doubled,
        "items_seen": ITEMS,
        "listed_all": doubled,
        "async_all": doubled,
    }
    assert len(routed) == 3 * len(ITEMS)  # a sync generator, a list, an async generator
    # no node sees the expander's CallInfo (nor any): it is its own call
    for name, seen in lone.SEEN.items():
        assert seen == [None] * len(ITEMS), name
    _slots_back(dr)


@pytest.mark.parametrize("window", [3, 1024])
async def test_streaming_and_list_collectors_take_lone_items_within_the_window(
    routed: list[int], window: int
) -> None:
    dr = driver.Builder().with_modules(lone).with_window(window).build()
    out = await dr.aexecute(["doubled_streamed", "doubled_all"], inputs={"items": ITEMS})
    assert out == {
        "doubled_streamed": [2 * i for i in ITEMS],
        "doubled_all": [2 * i for i in ITEMS],
    }
    assert len(routed) == len(ITEMS)
    _slots_back(dr)


async def test_each_lone_item_is_its_own_task_with_its_own_context_and_cancel_scopes(
    routed: list[int],
) -> None:
    dr = driver.Builder().with_modules(lone).build()
    lone.TASKS.clear()
    items = list(range(1, 30))
    try:
        out = await dr.aexecute(["scoped_all"], inputs={"items": items})
        assert out == {"scoped_all": items}  # each read back its own value
        assert len(routed) == len(items)
        assert len({id(t) for t in lone.TASKS}) == len(items)  # a task each
        assert asyncio.current_task() not in lone.TASKS
    finally:
        lone.TASKS.clear()
    assert lone.VAR.get() is None  # nor did the caller's context change


async def test_a_failing_item_names_its_node_and_index_and_gives_every_slot_back(
    routed: list[int],
) -> None:
    dr = driver.Builder().with_modules(lone).build()
    before = len(asyncio.all_tasks())
    with pytest.raises(errors.NodeExecutionError) as info:
        await dr.aexecute(["doubled_all"], inputs={"items": [*range(10), -1, *range(10)]})
    assert info.value.node == "doubled" and info.value.index == (10,)
    assert isinstance(info.value.__cause__, ValueError)
    assert routed  # the items went the lone route
    assert len(asyncio.all_tasks()) == before
    _slots_back(dr)


async def test_an_item_raising_cancelled_error_itself_fails_the_run_naming_it(
    routed: list[int],
) -> None:
    dr = driver.Builder().with_modules(lone).build()
    with pytest.raises(errors.NodeExecutionError) as info:
        await dr.aexecute(["doubled_all"], inputs={"items": [1, 2, -2, 3]})
    assert info.value.node == "doubled" and info.value.index == (2,)
    assert isinstance(info.value.__cause__, asyncio.CancelledError)
    _slots_back(dr)


async def test_a_base_exception_escaping_an_item_fails_the_run_with_it(routed: list[int]) -> None:
    dr = driver.Builder().with_modules(lone).build()
    with pytest.raises(lone.Escaped):
        await dr.aexecute(["doubled_all"], inputs={"items": [1, -3, 2]})
    assert routed
    _slots_back(dr)
    # the driver serves the next run
    assert await dr.aexecute(["doubled_all"], inputs={"items": [1]}) == {"doubled_all": [2]}


async def test_error_policies_decide_for_lone_items_as_for_any(routed: list[int]) -> None:
    dr = driver.Builder().with_modules(lone).build()
    items = [0, -1, 1, -2, 2]
    out = await dr.aexecute(["kept_all", "skipped_all"], inputs={"items": items})
    kept = out["kept_all"]
    assert [v for v in kept if not isinstance(v, ItemFailure)] == [0, 2, 4]
    failures = [v for v in kept if isinstance(v, ItemFailure)]
    assert [(f.node, f.index) for f in failures] == [("kept_doubled", (1,)), ("kept_doubled", (3,))]
    assert kept.index(failures[0]) == 1 and kept.index(failures[1]) == 3  # in yield order
    assert out["skipped_all"] == [0, 2, 4]
    assert len(routed) == 2 * len(items)
    _slots_back(dr)


async def test_admission_bounds_lone_items_and_hands_each_its_slot() -> None:
    ex = executors.AsyncioExecutor(max_tasks=3)
    dr = driver.Builder().with_modules(lone).with_remote_executor(ex).build()
    lone.GATE.update(event=asyncio.Event(), started=0)
    run = asyncio.ensure_future(dr.aexecute(["held_all"], inputs={"items": list(range(10))}))
    with anyio.fail_after(10):
        while lone.GATE["started"] < 3:
            await asyncio.sleep(0)
    for _ in range(20):  # whatever more could start, would have by now
        await asyncio.sleep(0)
    assert lone.GATE["started"] == 3
    assert ex.slots is not None and ex.slots.statistics().borrowed == 3
    lone.GATE["event"].set()
    with anyio.fail_after(10):
        assert await run == {"held_all": list(range(10))}
    assert ex.slots.statistics().borrowed == 0


async def test_a_cancelled_run_leaves_no_lone_item_and_no_slot() -> None:
    dr = driver.Builder().with_modules(lone).build()
    lone.GATE.update(event=asyncio.Event(), started=0)
    before = len(asyncio.all_tasks())
    run = asyncio.ensure_future(dr.aexecute(["held_all"], inputs={"items": list(range(50))}))
    with anyio.fail_after(10):
        while lone.GATE["started"] < 50:
            await asyncio.sleep(0)
    run.cancel()
    with anyio.fail_after(10):
        await asyncio.wait({run})
    assert run.cancelled()
    assert len(asyncio.all_tasks()) == before
    _slots_back(dr)


async def test_a_lone_item_running_the_same_driver_again_takes_no_slot_of_its_own() -> None:
    # 300 items with the default 256 slots, every outer item waiting for an inner run
    dr = driver.Builder().with_modules(lone).build()
    lone.DRIVER["dr"] = dr
    try:
        with anyio.fail_after(30):
            out = await dr.aexecute(["reentered_all"], inputs={"items": list(range(300))})
    finally:
        lone.DRIVER.clear()
    assert out == {"reentered_all": sum(2 * b + 2 * (b + 1) for b in range(300))}
    _slots_back(dr)


class _Items(LifecycleHooks):
    def __init__(self) -> None:
        self.tasks: list[Any] = []

    def run_after_task_execution(self, **kwargs: Any) -> None:
        self.tasks.append(kwargs["index"])


class _Nodes(LifecycleHooks):
    def __init__(self) -> None:
        self.nodes: list[str] = []

    def run_after_node_execution(self, **kwargs: Any) -> None:
        self.nodes.append(kwargs["node_name"])


@pytest.mark.parametrize("hooks", [_Items, _Nodes])
async def test_items_take_the_instance_route_when_someone_listens(
    routed: list[int], hooks: type[LifecycleHooks]
) -> None:
    adapter = hooks()
    dr = driver.Builder().with_modules(lone).with_adapters(adapter).build()
    out = await dr.aexecute(["doubled_all"], inputs={"items": [3, 1, 2]})
    assert out == {"doubled_all": [6, 2, 4]}
    assert routed == []
    heard = getattr(adapter, "tasks", None) or getattr(adapter, "nodes")
    assert len([h for h in heard if h != "item" and h != "doubled_all"]) == 3


async def test_items_streamed_by_astream_take_the_instance_route(routed: list[int]) -> None:
    dr = driver.Builder().with_modules(lone).build()
    events = [e async for e in dr.astream(["doubled"], inputs={"items": [1, 2]})]
    assert sorted(e.value for e in events if e.node == "doubled") == [2, 4]
    assert routed == []
    # asked for by aexecute, an in-block node is a list collector: the lone route
    assert await dr.aexecute(["doubled"], inputs={"items": [1, 2]}) == {"doubled": [2, 4]}
    assert len(routed) == 2


async def test_cached_lone_items_miss_then_hit_on_the_lone_route(
    routed: list[int], tmp_path: Any
) -> None:
    items = [3, 1, 2, 0]
    dr = driver.Builder().with_modules(lone).with_cache(str(tmp_path)).build()
    try:
        first = await dr.aexecute(["doubled_all"], inputs={"items": items})
        calls = len(lone.SEEN["doubled"])
        second = await dr.aexecute(["doubled_all"], inputs={"items": items})
        assert first == second == {"doubled_all": [6, 2, 4, 0]}
        assert calls == len(items)  # every item a miss, each called once
        assert len(lone.SEEN["doubled"]) == calls  # then every item a hit: none called
        assert len(routed) == 2 * len(items)
        runs = list(dr.cache.data_versions)
        assert len(runs) == 2
        # each item keyed and versioned on its own, by its task id
        assert sorted(dr.cache.data_versions[runs[0]]["doubled"]) == ["0", "1", "2", "3"]
        assert dr.cache.misses(runs[0])["doubled"] == len(items)
        assert dr.cache.hits(runs[1])["doubled"] == len(items)
        assert dr.cache.misses(runs[1])["doubled"] == 0
    finally:
        dr.close()
    _slots_back(dr)


async def test_a_cached_lone_item_that_fails_is_reported_and_not_kept(
    routed: list[int], tmp_path: Any
) -> None:
    dr = driver.Builder().with_modules(lone).with_cache(str(tmp_path)).build()
    try:
        with pytest.raises(errors.NodeExecutionError) as info:
            await dr.aexecute(["doubled_all"], inputs={"items": [1, -1, 2]})
        assert info.value.node == "doubled" and info.value.index == (1,)
        assert routed
        # item 1 finished (two loop turns) before -1 failed (three): it is kept and not
        # called again; -1 is (whether 2 starts before -1 fails again depends on when the
        # pump's thread hands it over)
        lone.CALLED.clear()
        with pytest.raises(errors.NodeExecutionError):
            await dr.aexecute(["doubled_all"], inputs={"items": [1, -1, 2]})
        assert -1 in lone.CALLED and 1 not in lone.CALLED
    finally:
        dr.close()
    _slots_back(dr)


# -- faults at random points of the lone route ---------------------------------------------------

_OUTPUTS = {"fail": "failing_all", "deliver": "kept_all", "skip": "skipped_all"}
_NODES = {"fail": "failing_value", "deliver": "kept_value", "skip": "skipped_value"}


@pytest.mark.parametrize("policy", ["deliver", "skip"])
def test_an_item_ended_by_its_policy_gives_its_slot_to_the_next(policy: str) -> None:
    # one slot: had the failed item kept it, the items after it would wait forever
    ex = executors.AsyncioExecutor(max_tasks=1)
    dr = driver.Builder().with_modules(lone_plan).with_remote_executor(ex).build()
    lone_plan.PLAN.clear()
    lone_plan.PLAN.update({0: ("raise", 0), 1: ("cancel", 1), 2: ("ok", 0), 3: ("ok", 2)})

    async def go() -> Any:
        with anyio.fail_after(10):
            return await dr.aexecute([_OUTPUTS[policy]], inputs={"items": [0, 1, 2, 3]})

    out = asyncio.run(go())[_OUTPUTS[policy]]
    assert [v for v in out if not isinstance(v, ItemFailure)] == [4, 6]
    assert ex.slots is not None and ex.slots.statistics().borrowed == 0


@st.composite
def _scenarios(draw: st.DrawFn) -> tuple[str, list[tuple[str, int]], int | None, int | None]:
    policy = draw(st.sampled_from(sorted(_OUTPUTS)))
    n = draw(st.integers(0, 24))
    kinds = ["ok"] * n
    if n and draw(st.booleans()):  # faults: one under "fail" (its outcome must not race)
        count = 1 if policy == "fail" else draw(st.integers(1, n))
        for i in draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=count, unique=True)):
            kinds[i] = draw(st.sampled_from(["raise", "cancel"]))
    plan = [(kind, draw(st.integers(0, 4))) for kind in kinds]
    slots = draw(st.sampled_from([None, 1, 1, 2, 3, 6]))  # small: a leaked slot would hang
    cancel_after = draw(st.one_of(st.none(), st.integers(0, n))) if n else None
    return policy, plan, slots, cancel_after


@settings(max_examples=60, deadline=None, derandomize=True)
@given(_scenarios())
def test_faults_and_cancellation_at_random_points_leave_nothing_behind(
    scenario: tuple[str, list[tuple[str, int]], int | None, int | None],
) -> None:
    policy, plan, slots, cancel_after = scenario
    ex = executors.AsyncioExecutor(max_tasks=slots) if slots else executors.AsyncioExecutor()
    dr = driver.Builder().with_modules(lone_plan).with_remote_executor(ex).build()
    items = list(range(len(plan)))
    lone_plan.PLAN.clear()
    lone_plan.PLAN.update(enumerate(plan))
    lone_plan.CALLS.clear()
    lone_plan.GENERATORS.clear()
    output, node = _OUTPUTS[policy], _NODES[policy]
    routed: list[int] = []
    original = _fanout._Lone.run_item

    def counting(self: Any, exp: Any, i: int, item: Any, slotted: Any) -> Any:
        routed.append(i)
        return original(self, exp, i, item, slotted)

    async def scenario_run() -> None:
        before = len(asyncio.all_tasks())
        run = asyncio.ensure_future(dr.aexecute([output], inputs={"items": items}))
        if cancel_after is not None:
            with anyio.fail_after(10):
                while len(lone_plan.CALLS) < cancel_after and not run.done():
                    await asyncio.sleep(0)
            run.cancel()
        with anyio.fail_after(10):
            await asyncio.wait({run})
        failed = [i for i, (kind, _) in enumerate(plan) if kind != "ok"]
        if run.cancelled():
            assert cancel_after is not None
        elif policy == "fail" and failed:
            error = run.exception()
            assert isinstance(error, errors.NodeExecutionError), error
            assert (error.node, error.index) == (node, (failed[0],))
        else:
            result = run.result()[output]
            ok = [2 * i for i, (kind, _) in enumerate(plan) if kind == "ok"]
            if policy == "deliver":
                assert [v for v in result if not isinstance(v, ItemFailure)] == ok
                assert [(v.node, v.index) for v in result if isinstance(v, ItemFailure)] == [
                    (node, (i,)) for i in failed
                ]
            else:
                assert result == ok
        # nothing of the run is left: tasks, slots, the generator
        for _ in range(3):
            await asyncio.sleep(0)
        assert len(asyncio.all_tasks()) == before
        assert ex.slots is None or ex.slots.statistics().borrowed == 0
        # a pump closes its generator on its own thread, never waited for by the run
        with anyio.fail_after(10):
            while not all("closed" in g for g in lone_plan.GENERATORS.values()):
                await asyncio.sleep(0)
        if slots:
            assert len(lone_plan.CALLS) <= len(items)  # each item called at most once

    mp = pytest.MonkeyPatch()
    mp.setattr(_fanout._Lone, "run_item", counting)
    try:
        asyncio.run(scenario_run())
    finally:
        mp.undo()
    if plan and cancel_after is None:
        assert routed  # the items went the lone route
