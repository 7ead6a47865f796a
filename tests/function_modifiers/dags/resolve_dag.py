"""@resolve with inject/parameterize_sources/extract_fields (Hamilton-written)."""

from __future__ import annotations

from hamilton.function_modifiers import (
    ResolveAt,
    extract_fields,
    group,
    inject,
    parameterize_sources,
    resolve,
    source,
)


def m1() -> int:
    return 1


def m2() -> int:
    return 2


def m3() -> int:
    return 3


@resolve(
    when=ResolveAt.CONFIG_AVAILABLE,
    decorate_with=lambda metric_names: inject(parts=group(*[source(n) for n in metric_names])),
)
def combined(parts: list[int]) -> int:
    return sum(parts)


@resolve(
    when=ResolveAt.CONFIG_AVAILABLE,
    decorate_with=lambda pairs, suffix="": parameterize_sources(
        **{f"pair_{x}_{y}{suffix}": {"x": x, "y": y} for x, y in pairs}
    ),
)
def pair(x: int, y: int) -> int:
    return x * 10 + y


@resolve(
    when=ResolveAt.CONFIG_AVAILABLE,
    decorate_with=lambda field_names: extract_fields({f: int for f in field_names}),
)
def fields(m1: int) -> dict:
    return {"f_one": m1, "f_two": m1 * 2, "f_three": m1 * 3}
