"""The dataflow that subdag_dag reuses (Hamilton-written)."""

from __future__ import annotations

from hamilton.function_modifiers import config


def doubled(raw: int) -> int:
    return raw * 2


@config.when(op="add")
def adjusted__add(doubled: int, delta: int) -> int:
    return doubled + delta


@config.when(op="mul")
def adjusted__mul(doubled: int, delta: int) -> int:
    return doubled * delta
