import pandas as pd
from hamilton.function_modifiers import config, extract_columns, load_from, source, value

data_columns = [
    "id",
    "reason_for_absence",
    "month_of_absence",
    "day_of_the_week",
    "seasons",
    "age",
    "son",
    "pet",
    "absenteeism_time_in_hours",
]


def _sanitize_columns(columns: list) -> list:
    return [c.strip().replace(" ", "_").lower() for c in columns]


@config.when_not_in(execution=["dask", "spark"])
@extract_columns(*data_columns)
@load_from.csv(path=source("location"), sep=value(";"))
def raw_data__base(df: pd.DataFrame) -> pd.DataFrame:
    """Loads the rows and names them by ID-month-day."""
    df.columns = _sanitize_columns(df.columns)
    df.index = (
        df["id"].astype(str)
        + "-"
        + df["month_of_absence"].astype(str)
        + "-"
        + df["day_of_the_week"].astype(str)
    )
    return df
