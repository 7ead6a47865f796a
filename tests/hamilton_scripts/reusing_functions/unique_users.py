import pandas as pd
from hamilton.function_modifiers import config


def filtered_interactions(website_interactions: pd.DataFrame, region: str) -> pd.DataFrame:
    return website_interactions[website_interactions.region == region]


@config.when(granularity="day")
def unique_users__daily(filtered_interactions: pd.DataFrame) -> pd.Series:
    return filtered_interactions.resample("D", on="timestamp").user_id.nunique()


@config.when(granularity="week")
def unique_users__weekly(filtered_interactions: pd.DataFrame) -> pd.Series:
    return filtered_interactions.resample("W", on="timestamp").user_id.nunique()
