"""Contracts other pieces build on: ``LifecycleHooks.wrap_node`` and ``asyncdag._calls``."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from typing import Any

import pytest

import asyncdag
from asyncdag import _calls, driver, lifecycle
from asyncdag.execution import executors
from asyncdag.htypes import Collect, Parallelizable
from asyncdag.resources import per_worker


def _module(**functions: Callable[..., Any]) -> Any:
    import types

    module = types.ModuleType("contract_dag")
    for name, fn in functions.items():
        fn.__module__ = module.__name__
        fn.__qualname__ = name
        setattr(module, name, fn)
    return module


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


async def double(item: int) -> int:
    return item * 2


def plus_one(double: int) -> int:
    return double + 1


def total(plus_one: Collect[int]) -> int:
    return sum(plus_one)


class Recorder(lifecycle.LifecycleHooks):
    """Wraps every node so that each call is counted, in the call style of the node."""

    def __init__(self) -> None:
        self.offered: list[tuple[str, bool, bool, bool]] = []
        self.calls: list[str] = []

    def wrap_node(self, *, node_name, fn, is_async, is_expander, in_block, **future_kwargs):
        self.offered.append((node_name, is_async, is_expander, in_block))
        calls = self.calls
        if is_async:

            @functools.wraps(fn)
            async def acall(**kwargs: Any) -> Any:
                calls.append(node_name)
                return await fn(**kwargs)

            return acall

        @functools.wraps(fn)
        def call(**kwargs: Any) -> Any:
            calls.append(node_name)
            return fn(**kwargs)

        return call


def _build(*adapters: Any, remote: executors.TaskExecutor | None = None) -> driver.Driver:
    module = _module(item=item, double=double, plus_one=plus_one, total=total)
    b = driver.Builder().with_modules(module).with_adapters(*adapters)
    if remote is not None:
        b = b.with_remote_executor(remote)
    return b.build()


@pytest.mark.parametrize(
    "remote", [None, executors.MultiThreadingExecutor(2)], ids=["default", "threads"]
)
def test_wrap_node_is_offered_every_node_once_per_plan_and_runs_per_call(
    remote: executors.TaskExecutor | None,
) -> None:
    rec = Recorder()
    dr = _build(rec, remote=remote)
    try:
        assert dr.execute(["total"], inputs={"n": 4}) == {"total": 2 * 6 + 4}
        assert dr.execute(["total"], inputs={"n": 4}) == {"total": 16}
    finally:
        dr.close()
    assert sorted(rec.offered) == [
        ("double", True, False, True),
        ("item", False, True, False),
        ("plus_one", False, False, True),
        ("total", False, False, False),
    ]
    assert sorted(rec.calls) == sorted(["item", "total"] * 2 + ["double", "plus_one"] * 8)


def test_wrap_node_wrappers_nest_in_adapter_order() -> None:
    order: list[str] = []

    class Named(lifecycle.LifecycleHooks):
        def __init__(self, name: str) -> None:
            self.name = name

        def wrap_node(self, *, node_name, fn, is_async, **future_kwargs):
            if node_name != "total":
                return None

            @functools.wraps(fn)
            def call(**kwargs: Any) -> Any:
                order.append(self.name)
                return fn(**kwargs)

            return call

    dr = _build(Named("inner"), Named("outer"))
    assert dr.execute(["total"], inputs={"n": 2}) == {"total": 4}
    assert order == ["outer", "inner"]


def test_wrap_node_names_the_parameters_that_receive_per_worker_resources() -> None:
    @per_worker
    def client() -> Any:
        return object()

    def fetched(item: int, client: Any) -> int:
        return item

    def got(fetched: Collect[int]) -> int:
        return len(fetched)

    seen: dict[str, tuple[str, ...]] = {}

    class Reads(lifecycle.LifecycleHooks):
        def wrap_node(self, *, node_name, fn, **future_kwargs):
            seen[node_name] = tuple(future_kwargs["resource_args"])
            return None

    module = _module(item=item, client=client, fetched=fetched, got=got)
    dr = driver.Builder().with_modules(module).with_adapters(Reads()).build()
    try:
        assert dr.execute(["got"], inputs={"n": 3}) == {"got": 3}
    finally:
        dr.close()
    assert seen == {"item": (), "fetched": ("client",), "got": ()}


def test_a_driver_without_wrap_node_has_no_wrappers() -> None:
    class Quiet(lifecycle.LifecycleHooks):
        def run_after_node_execution(self, **kwargs: Any) -> None:
            pass

    dr = _build(Quiet())
    assert dr._hooks.node_wrappers == []


def seen_run(n: int) -> Parallelizable[int]:
    yield from range(n)


async def async_run(seen_run: int) -> str | None:
    info = _calls.current_run()
    return info.run_id if info else None


def sync_run(seen_run: int) -> tuple[str | None, str]:
    info = _calls.current_run()
    return (info.run_id if info else None, threading.current_thread().name)


def run_ids(async_run: Collect[str | None], sync_run: Collect[tuple[str | None, str]]) -> Any:
    return async_run, sync_run


@pytest.mark.anyio
async def test_current_run_follows_the_work_to_the_loop_and_threads() -> None:
    assert _calls.current_run() is None
    module = _module(seen_run=seen_run, async_run=async_run, sync_run=sync_run, run_ids=run_ids)
    dr = driver.Builder().with_modules(module).build()
    (a1, s1) = (await dr.aexecute(["run_ids"], inputs={"n": 3}))["run_ids"]
    (a2, _) = (await dr.aexecute(["run_ids"], inputs={"n": 3}))["run_ids"]
    assert len(set(a1)) == 1 and a1[0] is not None
    assert {rid for rid, _ in s1} == {a1[0]}  # the same run, also on the threads
    assert all(thread != threading.current_thread().name for _, thread in s1)
    assert a2[0] != a1[0]  # each run has its own
    assert _calls.current_run() is None  # nothing leaks to the caller


def test_check_cancelled_does_nothing_outside_a_run_and_raises_in_a_cancelled_one() -> None:
    asyncdag.check_cancelled()  # no run: no-op
    info = _calls.RunInfo("r1")
    token = _calls.enter_run(info)
    try:
        asyncdag.check_cancelled()
        info.cancelled = True
        with pytest.raises(asyncio.CancelledError):
            asyncdag.check_cancelled()
    finally:
        _calls.exit_run(token)
    asyncdag.check_cancelled()
