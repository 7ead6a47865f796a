"""The cache on the engine's own route (``asyncdag._memo``): where the engine calls a cached
node on the loop or on a run's thread, it asks the node's ``StepMemo`` instead of calling
the cache's wrapper. Both routes must store, hit and record exactly alike; the memo hands
what it cannot answer at once to the wrapper, with the call's item known; and a wrapper put
around the cache's is never bypassed.
"""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from asyncdag import driver, lifecycle
from asyncdag._memo import MISS, SLOW, memo_of
from asyncdag.caching import _memo_route, _wrappers
from asyncdag.execution import executors
from benchmarks.dags import w1_asyncdag, w1_asyncdag_sync
from tests.dags_cache import memo_route

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def wrapper_calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many calls went through the cache's wrappers, by node."""
    seen: Counter[str] = Counter()
    sync, async_ = _wrappers.call_sync, _wrappers.call_async

    def counted_sync(spec: Any, fn: Any, kwargs: Any) -> Any:
        seen[spec.name] += 1
        return sync(spec, fn, kwargs)

    async def counted_async(spec: Any, fn: Any, kwargs: Any) -> Any:
        seen[spec.name] += 1
        return await async_(spec, fn, kwargs)

    monkeypatch.setattr(_wrappers, "call_sync", counted_sync)
    monkeypatch.setattr(_wrappers, "call_async", counted_async)
    return seen


def _summary(dr: driver.Driver) -> tuple[Counter[tuple[str, Any, str]], dict[str, Any]]:
    """A run's events as (node, item, event type), and its data versions."""
    events: Counter[tuple[str, Any, str]] = Counter()
    for node_events in dr.cache.logs(run_id=dr.cache.last_run_id, level="debug").values():
        for e in node_events:
            events[(e.node_name, e.task_id, e.event_type.name)] += 1
    versions = dict(dr.cache.data_versions[dr.cache.last_run_id])
    versions["item"] = versions.get("item", "")[:1]  # an expansion's version is drawn anew
    return events, versions


def _runs(path: Path, how: str, n: int = 6) -> list[Any]:
    """A cold run, a warm run in the same process and one after the stores are dropped."""
    from asyncdag.caching._store import forget_stores

    found = []
    for fresh in (False, False, True):
        if fresh:
            forget_stores()
        b = driver.Builder().with_modules(memo_route).with_cache(path)
        if how == "threads":
            b = b.with_local_executor(executors.MultiThreadingExecutor(2))
        dr = b.build()
        outputs = ["label", "pairs"]
        if how == "aexecute":
            import asyncio

            result = asyncio.run(dr.aexecute(outputs, inputs={"n": n}))
        else:
            result = dr.execute(outputs, inputs={"n": n})
        dr.cache.flush(30)
        found.append((result, _summary(dr)))
    return found


@pytest.mark.parametrize("how", ["execute", "aexecute", "threads"])
def test_both_routes_store_hit_and_record_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wrapper_calls: Counter[str], how: str
) -> None:
    with_memo = _runs(tmp_path / "memo", how)
    assert sum(wrapper_calls.values()) == 0
    monkeypatch.setattr(driver, "memo_of", lambda fn: None)  # every call through its wrapper
    without = _runs(tmp_path / "wrapper", how)
    assert wrapper_calls["shifted"] == wrapper_calls["square"] == 3 * 6
    assert with_memo == without
    (cold, (cold_events, _)), (warm, (warm_events, _)) = with_memo[0], with_memo[1]
    assert cold == warm == {"label": "6:122", "pairs": [(i, -i) for i in range(6)]}
    assert cold_events[("shifted", "3", "EXECUTE_NODE")] == 1
    assert warm_events[("shifted", "3", "GET_RESULT")] == 1
    assert warm_events[("pairs", "5", "GET_RESULT")] == 1
    assert not any(kind == "EXECUTE_NODE" for (_, _, kind) in warm_events)


@pytest.mark.parametrize("module", [w1_asyncdag, w1_asyncdag_sync])
def test_the_engine_calls_a_cached_node_on_the_loop_without_its_wrapper(
    tmp_path: Path, wrapper_calls: Counter[str], module: Any
) -> None:
    import asyncio

    for _ in range(2):  # a cold run, then a warm one
        dr = driver.Builder().with_modules(module).with_cache(tmp_path).build()
        if module is w1_asyncdag:
            result = asyncio.run(dr.aexecute(["total"], inputs={"n": 50}))
        else:
            result = dr.execute(["total"], inputs={"n": 50})
        assert result == {"total": sum(range(1, 51))}
    assert wrapper_calls["f"] == 0 and wrapper_calls["total"] == 0
    assert dr.cache.hits()["f"] == 50


def test_what_the_memo_cannot_answer_goes_to_the_wrapper_with_the_calls_item(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wrapper_calls: Counter[str]
) -> None:
    import asyncio

    monkeypatch.setattr(_memo_route.StepMemo, "look", lambda self, run, index, kw: (None, SLOW))
    dr = driver.Builder().with_modules(memo_route).with_cache(tmp_path).build()
    asyncio.run(dr.aexecute(["label"], inputs={"n": 4}))
    assert wrapper_calls["shifted"] == wrapper_calls["square"] == 4
    logs = dr.cache.logs(run_id=dr.cache.last_run_id)
    # the wrapper learnt each call's item from the CallInfo the engine made for it
    assert {key for key in logs if isinstance(key, tuple)} == {
        (node, str(i)) for node in ("square", "shifted") for i in range(4)
    }


def test_a_memo_answers_a_hit_from_memory_and_a_miss_it_may_decide(tmp_path: Path) -> None:
    """The piece itself: ``look`` -> MISS, ``keep``, then ``look`` -> the value."""
    dr = driver.Builder().with_modules(w1_asyncdag_sync).with_cache(tmp_path).build()
    seen: dict[str, Any] = {}
    look = _memo_route.StepMemo.look

    def spying(self: Any, run: Any, index: Any, kwargs: Any) -> Any:
        if self.spec.name == "f":
            seen["memo"], seen["run"] = self, run
            seen.setdefault("found", []).append(look(self, run, index, kwargs))
            return seen["found"][-1]
        return look(self, run, index, kwargs)

    _memo_route.StepMemo.look = spying  # type: ignore[method-assign]
    try:
        dr.execute(["total"], inputs={"n": 3})
        dr.execute(["total"], inputs={"n": 3})
    finally:
        _memo_route.StepMemo.look = look  # type: ignore[method-assign]
    found = seen["found"]
    assert [f for _, f in found[:3]] == [MISS] * 3
    assert [f for _, f in found[3:]] == [1, 2, 3]  # hits: the values themselves
    memo = seen["memo"]
    assert memo.wrapper.__asyncdag_memo__ is memo and memo_of(memo.wrapper) is memo


@pytest.mark.parametrize("outside", [True, False])
def test_a_wrapper_around_the_caches_is_never_bypassed(tmp_path: Path, outside: bool) -> None:
    calls: list[str] = []

    class Counting(lifecycle.LifecycleHooks):
        def wrap_node(self, *, node_name: str, fn: Any, is_async: bool, **_: Any) -> Any:
            if node_name != "f":
                return None

            @functools.wraps(fn)  # copies the cache wrapper's memo attribute when outside it
            def call(**kwargs: Any) -> Any:
                calls.append(node_name)
                return fn(**kwargs)

            return call

    for _ in range(2):
        b = driver.Builder().with_modules(w1_asyncdag_sync)
        b = (
            b.with_cache(tmp_path).with_adapters(Counting())
            if outside
            else b.with_adapters(Counting()).with_cache(tmp_path)
        )
        dr = b.build()
        assert dr.execute(["total"], inputs={"n": 5}) == {"total": 15}
    # outside the cache: called on every call; inside it: only on the cold run's misses
    assert len(calls) == (10 if outside else 5)
    assert dr.cache.hits()["f"] == 5


@pytest.mark.parametrize("node", ["checked", "checked_sync"])
def test_a_failing_call_fails_the_run_alike_on_both_routes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, node: str
) -> None:
    from asyncdag.errors import NodeExecutionError

    def failed_run(path: Path) -> tuple[str, Counter[tuple[str, Any, str]]]:
        dr = driver.Builder().with_modules(memo_route).with_cache(path).build()
        with pytest.raises(NodeExecutionError) as info:
            dr.execute([node], inputs={"n": 1, "bad": 0})
        events, _ = _summary(dr)
        return str(info.value), events

    message, events = failed_run(tmp_path / "memo")
    monkeypatch.setattr(driver, "memo_of", lambda fn: None)
    assert failed_run(tmp_path / "wrapper") == (message, events)
    assert node in message and "item 0 is bad" in message
    assert events[(node, "0", "FAILED_EXECUTION")] == 1


@pytest.mark.parametrize("memo_first", [True, False])
def test_what_one_route_stored_the_other_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, memo_first: bool
) -> None:
    """The same keys and versions on both routes: a run on one is all hits on the other."""
    from asyncdag.caching._store import forget_stores

    for use_memo in (memo_first, not memo_first):
        monkeypatch.setattr(driver, "memo_of", _memo_of if use_memo else (lambda fn: None))
        forget_stores()  # the second driver reads what the first one wrote
        dr = driver.Builder().with_modules(memo_route).with_cache(tmp_path).build()
        result = dr.execute(["label", "pairs"], inputs={"n": 5})
        dr.cache.flush(30)
    assert result["label"] == "5:70"
    assert dr.cache.misses() == Counter()
    assert dr.cache.hits()["shifted"] == dr.cache.hits()["pairs"] == 5


_memo_of = memo_of


@pytest.mark.parametrize("how", ["execute", "aexecute"])
def test_a_node_whose_failures_are_data_hits_on_the_engines_route(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wrapper_calls: Counter[str], how: str
) -> None:
    """``on_error("deliver")`` nodes: a hit of a result is answered by the memo; a miss
    (its failure must be stored) and a stored failure (raised again) go to the wrapper; both
    routes give the same outcomes and the same events."""
    import asyncio

    from asyncdag.caching._store import forget_stores

    def run(path: Path) -> tuple[list[str], Any]:
        dr = driver.Builder().with_modules(memo_route).with_cache(path).build()
        inputs = {"n": 5, "bad": 3}
        if how == "aexecute":
            result = asyncio.run(dr.aexecute(["outcomes"], inputs=inputs))
        else:
            result = dr.execute(["outcomes"], inputs=inputs)
        dr.cache.flush(30)
        events, versions = _summary(dr)
        versions["other"] = versions.get("other", "")[:1]  # drawn anew, as "item"'s
        return result["outcomes"], (events, versions)

    memo_route.CALLS.clear()
    cold, warm = run(tmp_path / "memo"), run(tmp_path / "memo")
    assert memo_route.CALLS == {"guarded": 5, "guarded_sync": 5}  # the warm run ran nothing
    expected = [*(repr(i * 10) for i in range(3)), "ValueError: item 3 is bad", "40"]
    expected += [*(repr([i]) for i in range(3)), "ValueError: item 3 is bad", "[4]"]
    assert cold[0] == warm[0] == expected
    # cold: every call a miss (the wrapper stores results and failures); warm: only the
    # stored failure goes to the wrapper, to be raised again (under aexecute the all-sync
    # block's items run whole on a pool thread: the memo answers there too)
    assert wrapper_calls == {"guarded": 5 + 1, "guarded_sync": 5 + 1}
    events = warm[1][0]
    assert events[("guarded", "1", "GET_RESULT")] == events[("guarded", "3", "GET_RESULT")] == 1
    assert not any(kind == "EXECUTE_NODE" for (_, _, kind) in events)

    forget_stores()
    monkeypatch.setattr(driver, "memo_of", lambda fn: None)  # every call through its wrapper
    assert (run(tmp_path / "wrapper"), run(tmp_path / "wrapper")) == (cold, warm)
