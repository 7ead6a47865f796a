"""The Builder and Driver surface: method names, chaining, copies, introspection, validation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from dags import arithmetic, counted, dup_first, dup_second, fan, mixed

from asyncdag import driver
from asyncdag.errors import (
    DuplicateNodeError,
    ExecutorError,
    InputTypeError,
    MissingInputError,
    RunningLoopError,
    UnknownOutputError,
)
from asyncdag.execution import executors, grouping

# -- Builder -----------------------------------------------------------------------------------


def test_every_builder_method_returns_the_builder_so_calls_chain() -> None:
    builder = driver.Builder()
    local = executors.SynchronousLocalTaskExecutor()
    remote = executors.MultiThreadingExecutor(max_tasks=2)
    steps = [
        lambda b: b.with_modules(fan),
        lambda b: b.with_config({"prefix": "n="}),
        lambda b: b.enable_dynamic_execution(allow_experimental_mode=True),
        lambda b: b.with_local_executor(local),
        lambda b: b.with_remote_executor(remote),
        lambda b: b.with_grouping_strategy(grouping.GroupNodesIndividually()),
        lambda b: b.with_adapters(object()),
        lambda b: b.with_window(4),
        lambda b: b.allow_module_overrides(),
    ]
    for step in steps:
        assert step(builder) is builder
    with builder.build() as dr:
        assert isinstance(dr, driver.Driver)
        assert dr.execute(["total", "labels"], inputs={"n": 4}) == fan._reference(4, "n=")


def test_the_seed_builder_chain_builds_and_runs() -> None:
    dr = (
        driver.Builder()
        .with_modules(fan)
        .enable_dynamic_execution(allow_experimental_mode=True)
        .with_config({})
        .with_local_executor(executors.SynchronousLocalTaskExecutor())
        .with_remote_executor(executors.MultiThreadingExecutor(max_tasks=3))
        .build()
    )
    with dr:
        assert dr.execute(["total"], inputs={"n": 6}) == {"total": fan._reference(6)["total"]}


def test_builder_copy_is_independent() -> None:
    original = driver.Builder().with_modules(dup_first).with_config({"x": 1})
    clone = original.copy()
    assert clone is not original
    clone.with_modules(dup_second).with_config({"x": 2}).allow_module_overrides()

    # the original saw none of the clone's changes
    first = original.build()
    assert first.execute(["shared"]) == {"shared": dup_first._reference(1)["shared"]}
    assert "only_second" not in {v.name for v in first.list_available_variables()}

    second = clone.build()
    assert second.execute(["shared", "only_second"]) == {
        k: v for k, v in dup_second._reference(2).items() if k in ("shared", "only_second")
    }

    # and changes to the original after the copy do not reach the clone
    original.with_modules(dup_second)
    with pytest.raises(DuplicateNodeError):
        original.build()
    clone.build()


def test_builder_rejects_a_window_below_one() -> None:
    with pytest.raises(ValueError, match="window"):
        driver.Builder().with_window(0)


# -- list_available_variables ------------------------------------------------------------------


def test_list_available_variables_lists_nodes_and_inputs_with_types() -> None:
    dr = driver.Builder().with_modules(arithmetic).build()
    found = {v.name: v for v in dr.list_available_variables()}
    assert set(found) == {"base", "doubled", "offset", "total", "x", "step"}
    for name in ("base", "doubled", "offset", "total"):
        assert found[name].type is int
        assert not found[name].is_external_input
    assert found["x"].is_external_input and found["x"].type is int
    assert found["step"].is_external_input and found["step"].type is int
    assert found["base"].documentation == "x plus one."


def test_list_available_variables_types_of_classes_and_inputs() -> None:
    dr = driver.Builder().with_modules(mixed).build()
    found = {v.name: v for v in dr.list_available_variables()}
    assert found["gate"].type is mixed.Gate and found["gate"].is_external_input
    assert found["summary"].type == dict[str, object]
    assert found["salt"].type is str


def test_tag_filter_selects_nodes_by_tag() -> None:
    try:
        from asyncdag.function_modifiers import tag  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"asyncdag.function_modifiers.tag is not importable yet: {exc}")
    from dags import tagged

    dr = driver.Builder().with_modules(tagged).build()
    assert dr.execute(["untagged"], inputs={"x": 1}) == {
        "untagged": tagged._reference(1)["untagged"]
    }

    def names(**tag_filter: Any) -> set[str]:
        return {v.name for v in dr.list_available_variables(tag_filter=tag_filter)}

    assert names(team="data") == {"raw", "clean"}
    assert names(team="data", stage="clean") == {"clean"}
    assert names(stage=["raw", "clean"]) == {"raw", "clean"}
    assert names(team=None) == {"raw", "clean", "page"}  # None: has the tag at all
    assert names(team="nobody") == set()
    found = {v.name: v for v in dr.list_available_variables()}
    assert found["raw"].tags == {"team": "data", "stage": "raw", "module": "dags.tagged"}
    assert found["untagged"].tags == {"module": "dags.tagged"}


# -- validate_execution ------------------------------------------------------------------------


def test_validate_execution_accepts_a_valid_request_and_runs_nothing() -> None:
    dr = driver.Builder().with_modules(counted).build()
    calls: list[str] = []
    assert dr.validate_execution(["c", "d"], inputs={"x": 1, "calls": calls}) is None
    assert dr.validate_execution(["c"], overrides={"b": 3}, inputs={"calls": calls}) is None
    assert calls == []


@pytest.mark.parametrize(
    ("outputs", "inputs", "error", "words"),
    [
        pytest.param(["c"], {"calls": []}, MissingInputError, ["'x'", "'a'"], id="missing"),
        pytest.param(["nope"], {"x": 1, "calls": []}, UnknownOutputError, ["'nope'"], id="unknown"),
        pytest.param(["c"], {"x": "1", "calls": []}, InputTypeError, ["'x'", "'a'"], id="type"),
    ],
)
def test_validate_execution_raises_what_a_run_would_raise_without_running(
    outputs: list[str], inputs: dict[str, Any], error: type[Exception], words: list[str]
) -> None:
    dr = driver.Builder().with_modules(counted).build()
    with pytest.raises(error) as info:
        dr.validate_execution(outputs, inputs=inputs)
    for word in words:
        assert word in str(info.value)
    with pytest.raises(error):
        dr.execute(outputs, inputs=inputs)
    assert inputs["calls"] == []


# -- execute() inside a loop -------------------------------------------------------------------


@pytest.mark.anyio
async def test_execute_inside_a_running_loop_raises_and_points_to_aexecute() -> None:
    dr = driver.Builder().with_modules(counted).build()
    calls: list[str] = []
    with pytest.raises(RunningLoopError, match="aexecute"):
        dr.execute(["c"], inputs={"x": 1, "calls": calls})
    assert calls == []
    # the same request works through aexecute on this loop
    result = await dr.aexecute(["c"], inputs={"x": 1, "calls": calls})
    assert result == {"c": counted._reference(1)["c"]}


def test_execute_from_sync_code_works_repeatedly() -> None:
    dr = driver.Builder().with_modules(arithmetic).build()
    for x in range(3):
        assert dr.execute(["total"], inputs={"x": x}) == {
            "total": arithmetic._reference(x)["total"]
        }
    # and nothing leaks a running loop into this thread
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()


# -- closing -----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_closed_driver_refuses_new_runs() -> None:
    async with driver.Builder().with_modules(counted).build() as dr:
        assert await dr.aexecute(["d"], inputs={"x": 1, "calls": []}) == {
            "d": counted._reference(1)["d"]
        }
    with pytest.raises(ExecutorError, match="closed"):
        await dr.aexecute(["d"], inputs={"x": 1, "calls": []})
    dr.close()  # idempotent
