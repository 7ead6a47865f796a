"""A small Parallelizable dataflow, importable by cluster workers."""

from __future__ import annotations

from asyncdag.htypes import Collect, Parallelizable


def number(n: int) -> Parallelizable[int]:
    yield from range(n)


def square(number: int) -> int:
    return number * number


def squares(square: Collect[int]) -> list[int]:
    return square
