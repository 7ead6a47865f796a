import pandas as pd
from hamilton.htypes import Collect


def all_rows(price_per_room: Collect[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(price_per_room, ignore_index=True)


def statistics_by_city(all_rows: pd.DataFrame) -> dict:
    grouped = all_rows.groupby("city")
    return {
        city: {
            "count": int(len(g)),
            "mean_price_per_room": round(float(g.price_per_room.mean()), 6),
        }
        for city, g in grouped
    }
