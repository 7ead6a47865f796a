"""Decorators on expanders, in-block nodes and collectors; sync and async (asyncdag-only)."""

from __future__ import annotations

import asyncio

from asyncdag.function_modifiers import (
    check_output,
    does,
    extract_fields,
    inject,
    parameterize_sources,
    pipe_input,
    pipe_output,
    source,
    step,
    subdag,
    tag,
    unpack_fields,
    value,
)
from asyncdag.htypes import Collect, Parallelizable
from function_modifiers.dags import parallel_inner

# -- a sync generator expander, parameterized into two expanders -------------------------------


@tag(kind="expander")
@parameterize_sources(evens={"pool": "even_pool"}, odds={"pool": "odd_pool"})
def numbers(pool: list[int]) -> Parallelizable[int]:
    yield from pool


@extract_fields({"square": int, "cube": int})
def powers(evens: int) -> dict:
    return {"square": evens**2, "cube": evens**3}


@check_output(range=(0, 10_000), importance="fail")
def checked_square(square: int) -> int:
    return square


@parameterize_sources(total_squares={"values": "checked_square"}, total_cubes={"values": "cube"})
def total(values: Collect[int]) -> int:
    return sum(values)


def odd_count(odds: Collect[int]) -> int:
    return len(odds)


# -- a nested expander inside the evens block ---------------------------------------------------


@inject(times=value(2))
def repeats(evens: int, times: int) -> Parallelizable[int]:
    for _ in range(times):
        yield evens


@tag(level="inner")
@check_output(range=(0, 1000), importance="fail", target_="inner_value")
@extract_fields({"inner_value": int, "inner_label": str})
def inner_parts(repeats: int) -> dict:
    return {"inner_value": repeats + 1, "inner_label": f"#{repeats}"}


def inner_total(inner_value: Collect[int]) -> int:
    return sum(inner_value)


def nested_total(inner_total: Collect[int]) -> int:
    return sum(inner_total)


# -- an async generator expander, checked per item, its input piped -------------------------------


def _double_all(xs: list[int]) -> list[int]:
    return [x * 2 for x in xs]


def _negate(x: int) -> int:
    return -x


@check_output(range=(0, 100), importance="fail")
@pipe_input(step(_double_all))
async def scaled_items(raw_items: list[int]) -> Parallelizable[int]:
    for x in raw_items:
        await asyncio.sleep(0)
        yield x


@inject(offset=value(1000))
async def shifted(scaled_items: int, offset: int) -> int:
    await asyncio.sleep(0)
    return scaled_items + offset


@unpack_fields("lo", "hi")
async def pair_of(shifted: int) -> tuple[int, int]:
    await asyncio.sleep(0)
    return shifted - 1, shifted + 1


@pipe_output(step(_negate))
def spread(lo: int, hi: int) -> int:
    return hi - lo


def all_shifted(shifted: Collect[int], spread: Collect[int]) -> list[int]:
    return [a + b for a, b in zip(shifted, spread, strict=True)]


# -- @does with an async replacement, @subdag around an async fan-out -----------------------------


async def _async_sum(**values: int) -> int:
    await asyncio.sleep(0)
    return sum(values.values())


@does(_async_sum)
def summed(total_squares: int, total_cubes: int) -> int:
    pass


@subdag(parallel_inner, inputs={"items": source("even_pool")})
def sub_sum(item_sum: int) -> int:
    return item_sum


OUTPUTS = [
    "total_squares",
    "total_cubes",
    "odd_count",
    "nested_total",
    "all_shifted",
    "summed",
    "sub_sum",
]


def _reference(even_pool: list[int], odd_pool: list[int], raw_items: list[int]) -> dict:
    squares = sum(x**2 for x in even_pool)
    cubes = sum(x**3 for x in even_pool)
    shifted_values = [2 * x + 1000 for x in raw_items]
    return {
        "total_squares": squares,
        "total_cubes": cubes,
        "odd_count": len(odd_pool),
        "nested_total": sum(2 * (x + 1) for x in even_pool),
        "all_shifted": [v - 2 for v in shifted_values],
        "summed": squares + cubes,
        "sub_sum": sum(x + 1 for x in even_pool),
    }
