"""Decorators on expanders (sync and async generators), in-block nodes, nested blocks and
collectors, on every executor — checked against a plain-Python reference."""

from __future__ import annotations

import pytest

from asyncdag import driver
from asyncdag.errors import NodeExecutionError
from asyncdag.execution import executors
from asyncdag.function_modifiers import DataValidationError

from .dags import parallel_dag

INPUTS = {"even_pool": [0, 2, 4, 6], "odd_pool": [1, 3, 5], "raw_items": [1, 2, 3, 4, 5]}


def _executor(kind: str) -> executors.TaskExecutor | None:
    if kind == "default":
        return None
    if kind == "inline":
        return executors.SynchronousLocalTaskExecutor()
    if kind == "threads":
        return executors.MultiThreadingExecutor(max_tasks=3)
    if not hasattr(executors, "MultiProcessingExecutor"):
        pytest.skip("executors.MultiProcessingExecutor is not available")
    return executors.MultiProcessingExecutor(max_tasks=2)


def _build(remote: executors.TaskExecutor | None) -> driver.Driver:
    builder = driver.Builder().with_modules(parallel_dag)
    if remote is not None:
        builder = builder.with_remote_executor(remote)
    return builder.build()


@pytest.mark.parametrize("kind", ["default", "inline", "threads", "processes"])
def test_decorated_parallel_dataflow_matches_reference(kind: str) -> None:
    remote = _executor(kind)
    try:
        got = _build(remote).execute(parallel_dag.OUTPUTS, inputs=INPUTS)
    finally:
        if remote is not None:
            remote.close()
    assert got == parallel_dag._reference(**INPUTS)


@pytest.mark.anyio
async def test_decorated_parallel_dataflow_under_aexecute() -> None:
    got = await _build(None).aexecute(parallel_dag.OUTPUTS, inputs=INPUTS)
    assert got == parallel_dag._reference(**INPUTS)


def test_roles_survive_decorators() -> None:
    roles = {v.name: v.role for v in _build(None).list_available_variables()}
    assert roles["evens"] == roles["odds"] == "expand"  # parameterized expanders
    assert roles["scaled_items_raw"] == "expand"  # a checked expander keeps its generator
    assert roles["scaled_items"] == "standard"  # ... and its checked items run per item
    assert roles["repeats"] == "expand"  # injected nested expander
    assert roles["total_squares"] == roles["total_cubes"] == "collect"  # parameterized collector
    assert roles["sub_sum.item"] == "expand" and roles["sub_sum.item_sum"] == "collect"


def test_per_item_check_fails_naming_node_and_item() -> None:
    dr = _build(None)
    with pytest.raises(NodeExecutionError) as info:
        dr.execute(["all_shifted"], inputs={**INPUTS, "raw_items": [1, 70, 2]})
    assert info.value.node == "scaled_items"
    assert info.value.index == (1,)
    assert isinstance(info.value.__cause__, DataValidationError)


def test_tags_on_expanders_and_nested_nodes() -> None:
    variables = _build(None).list_available_variables()
    # as Hamilton does, every node carries the module of the function that made it
    assert all(v.tags.get("module") for v in variables if not v.is_external_input)
    tags = {v.name: {k: t for k, t in v.tags.items() if k != "module"} for v in variables}
    assert tags["evens"] == tags["odds"] == {"kind": "expander"}
    assert tags["inner_value"] == {"level": "inner"}  # the checked field, inside a nested block
    assert tags["inner_label"] == {"level": "inner"}
