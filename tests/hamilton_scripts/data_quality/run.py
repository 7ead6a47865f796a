import json

import data_loaders
import feature_logic
from hamilton import driver

config = {"location": "absenteeism.csv", "execution": "normal"}
dr = driver.Driver(config, data_loaders, feature_logic)
output_columns = [
    "age",
    "age_zero_mean_unit_variance",
    "has_children",
    "is_summer",
    "has_pet",
    "day_of_the_week_2",
    "day_of_the_week_3",
    "seasons_1",
    "seasons_4",
    "absenteeism_time_in_hours",
]
df = dr.execute(output_columns)
validators = sorted(
    v.name
    for v in dr.list_available_variables()
    if v.tags.get("hamilton.data_quality.contains_dq_results")
)
checks = dr.execute(validators)
loaders = sorted(
    (v.name, v.tags["hamilton.data_loader.source"])
    for v in dr.list_available_variables()
    if v.tags.get("hamilton.data_loader")
)
print(
    json.dumps(
        {
            "df": json.loads(df.head(10).to_json()),
            "rows": len(df),
            "validators": validators,
            "checks": {k: bool(v.passes) for k, v in checks.to_dict("records")[0].items()},
            "loaders": loaders,
        },
        sort_keys=True,
    )
)
