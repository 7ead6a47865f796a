"""@subdag and @parameterized_subdag (Hamilton-written)."""

from __future__ import annotations

from hamilton.function_modifiers import (
    configuration,
    parameterized_subdag,
    source,
    subdag,
    tag,
    value,
)

from function_modifiers.dags import subdag_steps


def base_value() -> int:
    return 5


@tag(kind="subdag")
@subdag(subdag_steps, inputs={"raw": source("base_value"), "delta": value(1)}, config={"op": "add"})
def added(adjusted: int) -> int:
    return adjusted


@subdag(
    subdag_steps,
    inputs={"raw": value(10)},
    config={"op": configuration("outer_op"), "delta": 3},
    namespace="mult",
    final_node_name="multiplied",
    external_inputs=["bonus"],
)
def mult_fn(adjusted: int, doubled: int, bonus: int) -> int:
    return adjusted + doubled + bonus


@parameterized_subdag(
    subdag_steps,
    inputs={"delta": value(2)},
    config={"op": "add"},
    from_one={"inputs": {"raw": value(1)}},
    from_two={"inputs": {"raw": source("base_value")}, "config": {"op": "mul"}},
)
def family(adjusted: int) -> int:
    return adjusted


def uses_subdags(added: int, multiplied: int, from_one: int, from_two: int) -> list[int]:
    return [added, multiplied, from_one, from_two]


@subdag(subdag_steps.doubled, inputs={"raw": value(4)})
def only_doubled(doubled: int) -> int:
    return doubled
