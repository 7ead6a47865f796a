import json

import pandas as pd


def file_rows(files: str) -> pd.DataFrame:
    with open(files) as f:
        return pd.DataFrame(json.load(f))


def price_per_room(file_rows: pd.DataFrame) -> pd.DataFrame:
    return file_rows.assign(price_per_room=file_rows.price / file_rows.rooms)
