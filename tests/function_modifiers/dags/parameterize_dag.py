"""@parameterize, @parameterize_sources, @parameterize_values, @inject (Hamilton-written)."""

from __future__ import annotations

from hamilton.function_modifiers import (
    group,
    inject,
    parameterize,
    parameterize_sources,
    parameterize_values,
    source,
    value,
)


def a() -> int:
    return 1


def b() -> int:
    return 2


def c() -> int:
    return 3


@parameterize(
    a_plus_10={"x": source("a"), "y": value(10)},
    b_plus_c=({"x": source("b"), "y": source("c")}, "b and c added"),
)
def plus(x: int, y: int) -> int:
    """{output_name} adds {x} and {y}."""
    return x + y


@parameterize_sources(a_times_b={"p": "a", "q": "b"}, c_squared={"p": "c", "q": "c"})
def times(p: int, q: int) -> int:
    return p * q


@parameterize_values(
    parameter="k", assigned_output={("a_pow_2", "a squared"): 2, ("b_pow_3", "b cubed"): 3}
)
def power(b: int, k: int) -> int:
    return b**k


@inject(parts=group(source("a"), value(100), source("c")))
def grouped_sum(parts: list[int]) -> int:
    return sum(parts)


@inject(named=group(first=source("a"), second=value("x")))
def grouped_dict(named: dict[str, object]) -> str:
    return f"{named['first']}-{named['second']}"


@inject(offset=value(1000))
def injected_literal(a: int, offset: int) -> int:
    return a + offset


@parameterize(with_default={"x": source("b")}, with_both={"x": source("b"), "y": value(7)})
def default_kept(x: int, y: int = 5) -> int:
    return x + y


@parameterize(
    grouped_a_c={"items": group(source("a"), source("c")), "scale": value(2)},
    grouped_b={"items": group(source("b")), "scale": source("c")},
)
def scaled_sum(items: list[int], scale: int) -> int:
    return sum(items) * scale
