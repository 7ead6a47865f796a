from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd
from hamilton.function_modifiers import extract_fields
from hamilton.htypes import Collect, Parallelizable
from hamilton.lifecycle.default import accept_error_sentinels

Splitter = Callable[[pd.DataFrame], Iterable[tuple[str, pd.DataFrame]]]


def load_data() -> pd.DataFrame:
    n = 24
    return pd.DataFrame(
        {
            "Views": [float(i * 100) for i in range(n)],
            "Spend": [float((i % 5) * 10 + i) for i in range(n)],
            "Region": [["Central", "North", "South"][i % 3] for i in range(n)],
            "Method": [["Internet", "TV"][i % 2] for i in range(n)],
        }
    )


def split_to_groups(
    load_data: pd.DataFrame, funcs: list[Splitter]
) -> Parallelizable[tuple[str, pd.DataFrame]]:
    for func in funcs:
        yield from func(load_data)


@extract_fields(dict(data=pd.DataFrame, group_name=str))
def expander(split_to_groups: tuple[str, pd.DataFrame]) -> dict[str, Any]:
    return {"data": split_to_groups[1], "group_name": split_to_groups[0]}


def average(data: pd.DataFrame) -> float:
    return float(data.Views.mean())


def model_fit(data: pd.DataFrame, group_name: str) -> tuple[float, float]:
    if "Method:TV" in group_name:
        raise ValueError("the fit does not converge")
    slope = float((data.Views * data.Spend).sum() / (data.Spend**2).sum())
    return round(slope, 6), float(len(data))


@accept_error_sentinels
def gather_metrics(
    group_name: str | None,
    average: float | None,
    model_fit: tuple[float, float] | None,
) -> dict[str, Any]:
    return {
        "Name": group_name,
        "Average": average,
        "Slope": model_fit[0] if model_fit else None,
        "Rows": model_fit[1] if model_fit else None,
    }


def final_collect(gather_metrics: Collect[dict[str, Any]]) -> list:
    return list(gather_metrics)
