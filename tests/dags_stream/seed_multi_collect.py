"""The seed document's "WILL NOT WORK" example (two collectors of one Parallelizable), verbatim
but for the imports: asyncdag must run it."""

import pandas as pd

from asyncdag.htypes import Collect, Parallelizable

ANALYSIS_OB = tuple[tuple[str, ...], pd.DataFrame]
ANALYSIS_RES = dict[str, str | float]


def split_by_cols(full_data: pd.DataFrame, columns: list[str]) -> Parallelizable[ANALYSIS_OB]:
    for idx, grp in full_data.groupby(columns):  # noqa: UP028 - the seed's code, verbatim
        yield (idx, grp)


def sub_metric_1(split_by_cols: ANALYSIS_OB, number: float = 1.0) -> ANALYSIS_RES:
    idx, grp = split_by_cols
    return {"key": idx, "mean": grp["spend"].mean() + number}


def sub_metric_2(split_by_cols: ANALYSIS_OB) -> ANALYSIS_RES:
    idx, grp = split_by_cols
    return {"key": idx, "mean": grp["signups"].mean()}


def metric_1(sub_metric_1: Collect[ANALYSIS_RES], columns: list[str]) -> pd.DataFrame:
    data = [[k for k in d["key"]] + [d["mean"], "spend"] for d in sub_metric_1]
    cols = list(columns) + ["mean", "metric"]
    return pd.DataFrame(data, columns=cols)


def metric_2(sub_metric_2: Collect[ANALYSIS_RES], columns: list[str]) -> pd.DataFrame:
    data = [[k for k in d["key"]] + [d["mean"], "signups"] for d in sub_metric_2]
    cols = list(columns) + ["mean", "metric"]
    return pd.DataFrame(data, columns=cols)


# this will not work because you can't have two Collect[] calls downstream from a
# Parallelizable[] call  (the seed's comment: in asyncdag it does work)
def all_agg(metric_1: pd.DataFrame, metric_2: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([metric_1, metric_2])


def _example_data() -> pd.DataFrame:
    """The seed's input frame (private: not a node)."""
    return pd.DataFrame(
        index=pd.date_range("20230101", "20230110"),
        data={
            "signups": [1, 10, 50, 100, 200, 400, 700, 800, 1000, 1300],
            "spend": [10, 10, 20, 40, 40, 50, 100, 80, 90, 120],
            "region": ["A", "B", "C", "A", "B", "C", "A", "B", "C", "X"],
        },
    )


def _reference(full_data: pd.DataFrame, number: float) -> pd.DataFrame:
    """``all_agg`` for ``columns=["region"]``, from plain loops over the rows."""
    regions = sorted(set(full_data["region"]))
    spend_rows, signup_rows = [], []
    for region in regions:
        rows = full_data[full_data["region"] == region]
        spend = [float(v) for v in rows["spend"]]
        signups = [float(v) for v in rows["signups"]]
        spend_rows.append([region, sum(spend) / len(spend) + number, "spend"])
        signup_rows.append([region, sum(signups) / len(signups), "signups"])
    cols = ["region", "mean", "metric"]
    return pd.concat(
        [pd.DataFrame(spend_rows, columns=cols), pd.DataFrame(signup_rows, columns=cols)]
    )
