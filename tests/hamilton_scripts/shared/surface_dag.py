"""A small dataflow written for both libraries (its only import is ``function_modifiers``,
passed in by the tests): branches for the graph queries, tags with list values, an optional
parameter with a default, a docstring."""

from __future__ import annotations

from types import ModuleType
from typing import Any


def make(fm: ModuleType) -> dict[str, Any]:
    """The functions of the dataflow, decorated with ``fm``'s ``tag``."""

    @fm.tag(owner="ada", layer=["raw", "clean"])
    def cleaned(raw: list[int]) -> list[int]:
        """The raw values without negatives."""
        return [v for v in raw if v >= 0]

    @fm.tag(owner="bob")
    def total(cleaned: list[int], offset: int = 10) -> int:
        return sum(cleaned) + offset

    def count(cleaned: list[int]) -> int:
        return len(cleaned)

    def mean(total: int, count: int) -> float:
        return total / count

    @fm.tag(owner="cy", layer="report")
    def report(mean: float, title: str) -> str:
        return f"{title}: {mean:.2f}"

    def side(raw: list[int]) -> int:
        return max(raw)

    return {f.__name__: f for f in (cleaned, total, count, mean, report, side)}
