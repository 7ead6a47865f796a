"""Graph building: which functions become nodes, how they connect, and what build() rejects."""

from __future__ import annotations

from typing import Any

import pytest
from dags import (
    arithmetic,
    bad_collect_type,
    bad_cycle,
    bad_future_mismatch,
    bad_parallel_item,
    bad_scope_collect_inside,
    bad_scope_collect_outside,
    bad_scope_two_expanders,
    bad_type_mismatch,
    default_from_node,
    dup_first,
    dup_second,
    fan,
    future_annotations,
    importer,
)

from asyncdag import driver
from asyncdag.errors import (
    CycleError,
    DuplicateNodeError,
    GraphError,
    MissingInputError,
    ScopeError,
    TypeMismatchError,
)


def build(*modules: Any, config: dict[str, Any] | None = None) -> driver.Driver:
    builder = driver.Builder().with_modules(*modules)
    if config:
        builder = builder.with_config(config)
    return builder.build()


def node_names(dr: driver.Driver) -> set[str]:
    return {v.name for v in dr.list_available_variables() if not v.is_external_input}


def input_names(dr: driver.Driver) -> set[str]:
    return {v.name for v in dr.list_available_variables() if v.is_external_input}


def variables(dr: driver.Driver) -> dict[str, driver.Variable]:
    return {v.name: v for v in dr.list_available_variables()}


# -- which functions are nodes -----------------------------------------------------------------


def test_nodes_are_the_public_functions_the_module_defines() -> None:
    dr = build(arithmetic)
    # not `join` (imported), not `_combine` / `_reference` (private)
    assert node_names(dr) == {"base", "doubled", "offset", "total"}
    assert input_names(dr) == {"x", "step"}


def test_an_imported_function_is_not_a_node_of_the_importing_module() -> None:
    dr = build(importer)
    assert node_names(dr) == {"tripled"}
    # `base` is only imported there, so it is something the user must give
    assert input_names(dr) == {"base"}
    assert dr.execute(["tripled"], inputs={"base": 7}) == importer._reference(7)


def test_a_function_imported_into_another_module_is_not_a_duplicate() -> None:
    dr = build(arithmetic, importer)
    assert node_names(dr) == {"base", "doubled", "offset", "total", "tripled"}
    assert dr.execute(["tripled"], inputs={"x": 4}) == {
        "tripled": 3 * arithmetic._reference(4)["base"]
    }


def test_classes_in_a_module_are_not_nodes() -> None:
    dr = build(future_annotations)
    assert "Point" not in node_names(dr) | input_names(dr)


# -- dependencies ------------------------------------------------------------------------------


def test_dependencies_are_wired_by_parameter_name() -> None:
    dr = build(arithmetic)
    result = dr.execute(["base", "doubled", "offset", "total"], inputs={"x": 3})
    assert result == arithmetic._reference(3)
    # `doubled` needs `base`, which needs `x`: the error names the node that reads `x`
    with pytest.raises(MissingInputError) as info:
        dr.validate_execution(["doubled"], inputs={})
    assert info.value.missing == {"x": ["base"]}


def test_a_parameter_with_a_default_is_an_optional_input() -> None:
    dr = build(arithmetic)
    dr.validate_execution(["offset"], inputs={"x": 1})  # `step` is not required
    assert dr.execute(["offset"], inputs={"x": 1}) == {"offset": 12}  # the function's default
    assert dr.execute(["offset"], inputs={"x": 1, "step": 3}) == {"offset": 5}
    assert dr.execute(["total"], inputs={"x": 1, "step": 3}) == {
        "total": arithmetic._reference(1, step=3)["total"]
    }
    step = variables(dr)["step"]
    assert step.is_external_input
    assert step.type is int


def test_a_defaulted_parameter_that_names_a_node_reads_the_node() -> None:
    dr = build(default_from_node)
    assert "step" in node_names(dr) and "step" not in input_names(dr)
    assert dr.execute(["offset"], inputs={"base": 1}) == default_from_node._reference(1)
    assert dr.execute(["offset"], inputs={"base": 1}, overrides={"step": 7}) == (
        default_from_node._reference(1, step=7)
    )


def test_config_values_are_usable_as_inputs() -> None:
    dr = build(arithmetic, config={"x": 4, "step": 1})
    dr.validate_execution(["total"])
    assert dr.execute(["total"]) == {"total": arithmetic._reference(4, step=1)["total"]}
    # a config value may be requested like an input
    assert dr.execute(["x", "total"]) == {"x": 4, "total": arithmetic._reference(4, 1)["total"]}


# -- annotations -------------------------------------------------------------------------------


def test_string_annotations_resolve_to_real_types() -> None:
    dr = build(future_annotations)
    found = variables(dr)
    point = future_annotations.Point
    assert found["origin"].type is point
    assert found["shifted"].type is point
    assert found["history"].type == list[point]
    assert found["coordinate"].type is float  # the item type of Parallelizable[float]
    assert found["coordinate"].role == "expand"
    assert found["norm_sq"].role == "collect"
    assert found["dx"].type is float and found["dx"].is_external_input
    assert found["past"].type == list[point] | None
    # `Decimal` is only imported under TYPE_CHECKING: no failure, the hint is just unknown
    assert not isinstance(found["unit"].type, str)


def test_string_annotations_run_to_the_reference_result() -> None:
    dr = build(future_annotations)
    outputs = ["shifted", "norm_sq", "history", "report"]
    past = [future_annotations.Point(9.0, 9.0)]
    result = dr.execute(outputs, inputs={"dx": 3.0, "dy": 4.0, "past": past})
    assert result == future_annotations._reference(3.0, dy=4.0, past=past)


def test_string_annotations_are_type_checked() -> None:
    with pytest.raises(TypeMismatchError) as info:
        build(bad_future_mismatch)
    assert "'scores'" in str(info.value) and "'ranking'" in str(info.value)


# -- type checks on edges ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "producer", "consumer"),
    [
        pytest.param(bad_type_mismatch, "count", "label", id="second-parameter"),
        pytest.param(bad_parallel_item, "item", "shout", id="parallelizable-item"),
        pytest.param(bad_collect_type, "doubled", "joined", id="collect-item"),
    ],
)
def test_type_mismatch_names_both_nodes(module: Any, producer: str, consumer: str) -> None:
    with pytest.raises(TypeMismatchError) as info:
        build(module)
    message = str(info.value)
    assert f"'{producer}'" in message
    assert f"'{consumer}'" in message
    assert isinstance(info.value, GraphError)


def test_parallelizable_and_collect_are_parsed() -> None:
    dr = build(fan)
    found = variables(dr)
    assert found["number"].role == "expand"
    assert found["number"].type is int
    assert found["squared"].role == "standard"
    assert found["total"].role == "collect"
    assert found["labels"].role == "collect"
    assert found["n"].is_external_input
    result = dr.execute(["total", "labels"], inputs={"n": 5})
    assert result == fan._reference(5)


def test_int_into_float_and_subclasses_are_accepted() -> None:
    # future_annotations passes `float` values around and `x0: float` accepts an int input
    dr = build(future_annotations)
    result = dr.execute(["shifted"], inputs={"dx": 1, "x0": 2})
    assert result == {"shifted": future_annotations.Point(3, 0.0)}


# -- cycles and duplicates ---------------------------------------------------------------------


def test_a_cycle_is_reported_with_its_nodes() -> None:
    dr = build(bad_cycle)  # builds, as in Hamilton: only a request that needs the loop fails
    assert dr.has_cycles(["outside"]) and dr.has_cycles()
    with pytest.raises(CycleError) as info:
        dr.execute(["outside"])
    err = info.value
    assert {"alpha", "beta", "gamma"} <= set(err.cycle)
    assert "outside" not in err.cycle
    for name in ("alpha", "beta", "gamma"):
        assert f"'{name}'" in str(err) or name in str(err)


def test_a_node_defined_in_two_modules_is_a_duplicate() -> None:
    with pytest.raises(DuplicateNodeError) as info:
        build(dup_first, dup_second)
    message = str(info.value)
    assert "'shared'" in message
    assert dup_first.__name__ in message and dup_second.__name__ in message
    assert "allow_module_overrides" in message


def test_allow_module_overrides_lets_the_later_module_win() -> None:
    dr = driver.Builder().with_modules(dup_first, dup_second).allow_module_overrides().build()
    result = dr.execute(["shared", "only_first", "only_second"], inputs={"x": 1})
    assert result == dup_second._reference(1)


def test_allow_module_overrides_order_decides() -> None:
    dr = driver.Builder().with_modules(dup_second, dup_first).allow_module_overrides().build()
    assert dr.execute(["shared"], inputs={"x": 1}) == {"shared": dup_first._reference(1)["shared"]}


# -- block scopes ------------------------------------------------------------------------------


def test_a_node_mixing_items_of_two_expanders_is_a_scope_error() -> None:
    with pytest.raises(ScopeError) as info:
        build(bad_scope_two_expanders)
    message = str(info.value)
    assert "'pair'" in message
    assert "letter" in message and "digit" in message


def test_collecting_a_block_from_inside_that_block_is_a_scope_error() -> None:
    with pytest.raises(ScopeError) as info:
        build(bad_scope_collect_inside)
    message = str(info.value)
    assert "'weird'" in message and "squared" in message


def test_collecting_a_value_outside_any_block_is_a_scope_error() -> None:
    with pytest.raises(ScopeError) as info:
        build(bad_scope_collect_outside)
    message = str(info.value)
    assert "'total'" in message and "'plain'" in message
