import json
from typing import Any

import pandas as pd
import reusable_subdags
from hamilton.base import ResultMixin, SimplePythonGraphAdapter
from hamilton.driver import Driver


class UpsampledJoin(ResultMixin):
    """Joins time series of different frequencies on a daily index."""

    def __init__(self, frequency: str):
        self.frequency = frequency

    def build_result(self, **outputs: Any) -> Any:
        bad = [k for k, v in outputs.items() if not isinstance(v, pd.Series)]
        if bad:
            raise ValueError(f"not time series: {bad}")
        return pd.DataFrame(
            {k: v.resample(self.frequency).bfill() for k, v in outputs.items()}
        ).bfill()


dr = Driver(
    {}, reusable_subdags, adapter=SimplePythonGraphAdapter(result_builder=UpsampledJoin("D"))
)
df = dr.execute(["daily_unique_users_US", "weekly_unique_users_CA"])
print(json.dumps(json.loads(df.to_json(date_format="iso")), sort_keys=True))
