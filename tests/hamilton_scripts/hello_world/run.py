import json
import pathlib

import my_functions
import pandas as pd
from hamilton import base, driver

dr = driver.Builder().with_modules(my_functions).with_adapters(base.PandasDataFrameResult()).build()
output_columns = [
    "spend",
    "signups",
    "avg_3wk_spend",
    "spend_per_signup",
    my_functions.spend_zero_mean_unit_variance,
]
initial_columns = {
    "signups": pd.Series([1, 10, 50, 100, 200, 400]),
    "spend": pd.Series([10, 10, 20, 40, 40, 50]),
}
df = dr.execute(output_columns, inputs=initial_columns)
drawing = dr.display_all_functions()
pathlib.Path("my_dag.dot").write_text(drawing.source)


def names(variables):
    return sorted(v.name for v in variables)


print(
    json.dumps(
        {
            "df": json.loads(df.to_json()),
            "columns": list(df.columns),
            "downstream": names(dr.what_is_downstream_of("spend_mean")),
            "upstream": names(dr.what_is_upstream_of("spend_zero_mean_unit_variance")),
            "path": names(dr.what_is_the_path_between("spend", "spend_zero_mean_unit_variance")),
            "owned": names(dr.list_available_variables(tag_filter={"owner": ["finance", "x"]})),
            "staged": names(dr.list_available_variables(tag_filter={"stage": "report"})),
            "has_owner": names(dr.list_available_variables(tag_filter={"owner": None})),
            "docs": {
                v.name: v.documentation
                for v in dr.list_available_variables()
                if not v.is_external_input
            },
            "origins": sorted(
                {
                    v.originating_functions[0].__name__
                    for v in dr.list_available_variables()
                    if v.originating_functions
                }
            ),
            "required": {
                v.name: sorted(v.required_dependencies)
                for v in dr.list_available_variables()
                if not v.is_external_input
            },
            "inputs": names(v for v in dr.list_available_variables() if v.is_external_input),
            "has_cycles": dr.has_cycles(["spend_per_signup"]),
            "picture_mentions_every_node": all(
                v.name in drawing.source for v in dr.list_available_variables()
            ),
        },
        sort_keys=True,
    )
)
