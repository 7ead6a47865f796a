import pandas as pd
import unique_users
from hamilton.function_modifiers import source, subdag, value


def website_interactions() -> pd.DataFrame:
    days = pd.date_range("2022-09-01", periods=20, freq="D")
    rows = []
    for i, day in enumerate(days):
        for user in range(i % 4 + 1):
            rows.append(
                {"timestamp": day, "user_id": user + i % 3, "region": "US" if i % 2 else "CA"}
            )
    return pd.DataFrame(rows)


@subdag(
    unique_users,
    inputs={"website_interactions": source("website_interactions"), "region": value("US")},
    config={"granularity": "day"},
)
def daily_unique_users_US(unique_users: pd.Series) -> pd.Series:
    return unique_users


@subdag(
    unique_users,
    inputs={"website_interactions": source("website_interactions"), "region": value("CA")},
    config={"granularity": "week"},
)
def weekly_unique_users_CA(unique_users: pd.Series) -> pd.Series:
    return unique_users
