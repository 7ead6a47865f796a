"""@pipe_input / @pipe / @pipe_output / step / @mutate / apply_to (Hamilton-written)."""

from __future__ import annotations

from hamilton.function_modifiers import (
    apply_to,
    extract_fields,
    mutate,
    pipe_input,
    pipe_output,
    source,
    step,
    value,
)


def _add(x: int, n: int = 1) -> int:
    return x + n


def _mul(x: int, factor: int) -> int:
    return x * factor


def _neg(x: int) -> int:
    return -x


def start() -> int:
    return 3


@pipe_input(
    step(_add),
    step(_mul, factor=source("factor")),
    step(_add, n=value(100)).when(mode="big"),
    step(_neg).named("negated"),
)
def piped(start: int) -> int:
    return start


@pipe_input(step(_add, 5), step(_mul, factor=10), namespace=None, on_input="second")
def piped_second(first: int, second: int) -> int:
    return first * 1000 + second


@pipe_input(step(_add, n=2).named("renamed", namespace="custom"))
def piped_named(start: int) -> int:
    return start


@pipe_output(step(_add, n=2), step(_mul, factor=3).named("tripled"))
def out_piped(start: int) -> int:
    return start


@pipe_output(step(_add, n=10).on_output("f_a"), step(_neg))
@extract_fields({"f_a": int, "f_b": int})
def out_fields(start: int) -> dict:
    return {"f_a": start, "f_b": start * 2}


@pipe_output(step(_add, n=1).when(mode="never"))
def out_skipped(start: int) -> int:
    return start


def mutated(start: int) -> int:
    return start + 1


def also_mutated(start: int) -> int:
    return start + 2


@mutate(mutated, also_mutated, n=value(7))
def _bump(x: int, n: int) -> int:
    return x + n


@mutate(
    apply_to(mutated, factor=value(2)).when(mode="big"),
    apply_to(also_mutated, factor=source("factor")),
)
def _times(x: int, factor: int) -> int:
    return x * factor
