"""@extract_fields, @unpack_fields, @extract_columns, @parameterize_extract_columns."""

from __future__ import annotations

from typing import TypedDict

import pandas as pd
from hamilton.function_modifiers import (
    ParameterizedExtract,
    extract_columns,
    extract_fields,
    parameterize_extract_columns,
    source,
    unpack_fields,
    value,
)


class Stats(TypedDict):
    mean: float
    n: int


@extract_fields({"total": int, "count": int})
def summary(xs: list[int]) -> dict:
    return {"total": sum(xs), "count": len(xs)}


@extract_fields(["lo", "hi"])
def bounds(xs: list[int]) -> dict[str, int]:
    return {"lo": min(xs), "hi": max(xs)}


@extract_fields()
def stats(xs: list[int]) -> Stats:
    return {"mean": sum(xs) / len(xs), "n": len(xs)}


@extract_fields("only_mean")
def only(xs: list[int]) -> dict[str, float]:
    return {"only_mean": sum(xs) / len(xs)}


@extract_fields({"present": int, "absent": int}, fill_with=0)
def partial(xs: list[int]) -> dict:
    return {"present": 1}


@unpack_fields("first", "second")
def pair(xs: list[int]) -> tuple[int, int]:
    return xs[0], xs[1]


@unpack_fields("u", "v", "w")
def triple(xs: list[int]) -> tuple[int, ...]:
    return xs[0], xs[1], xs[2]


@extract_columns("col_a", ("col_b", "b, doubled"))
def frame(xs: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"col_a": xs, "col_b": [x * 2 for x in xs]})


@extract_columns("present_col", "missing_col", fill_with=7)
def frame_filled(xs: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"present_col": xs})


@parameterize_extract_columns(
    ParameterizedExtract(("s1", "p1"), {"factor": value(2)}),
    ParameterizedExtract(("s2", "p2"), {"factor": source("count")}),
)
def scaled(frame: pd.DataFrame, factor: int) -> pd.DataFrame:
    return pd.DataFrame({"s": frame["col_a"] * factor, "p": frame["col_b"] + factor})
