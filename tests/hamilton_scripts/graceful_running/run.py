import json
import shutil

import functions
from hamilton import driver
from hamilton.execution import executors
from hamilton.lifecycle import GracefulErrorAdapter


def split_on_region(data):
    for idx, grp in data.groupby("Region"):
        yield f"Region:{idx}", grp


def split_on_attrs(data):
    for (region, method), grp in data.groupby(["Region", "Method"]):
        yield f"Region:{region} - Method:{method}", grp


results = {}
for mode, remote in [
    ("local", executors.SynchronousLocalTaskExecutor()),
    ("multithreading", executors.MultiThreadingExecutor(max_tasks=4)),
]:
    dr = (
        driver.Builder()
        .enable_dynamic_execution(allow_experimental_mode=True)
        .with_remote_executor(remote)
        .with_modules(functions)
        .with_adapters(
            GracefulErrorAdapter(
                error_to_catch=ValueError, sentinel_value=None, try_all_parallel=True
            )
        )
        .build()
    )
    the_funcs = [split_on_region, split_on_attrs]
    if shutil.which("dot"):
        dr.visualize_execution(
            ["final_collect"], "./dag", {}, inputs={"funcs": the_funcs}, show_legend=False
        )
    results[mode] = dr.execute(final_vars=["final_collect"], inputs={"funcs": the_funcs})[
        "final_collect"
    ]
print(json.dumps(results, sort_keys=True))
