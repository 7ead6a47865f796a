"""@does (Hamilton-written)."""

from __future__ import annotations

from hamilton.function_modifiers import does


def _sum_all(**values: int) -> int:
    return sum(values.values())


def _scale(value: float, factor: float) -> float:
    return value * factor


@does(_sum_all)
def total(a: int, b: int, c: int = 3) -> int:
    """a + b + c"""
    pass


@does(_scale, value="amount", factor="multiplier")
def scaled(amount: float, multiplier: float = 2.0) -> float:
    pass
