import json
import sys

import aggregate_data
import list_data
import process_data
from hamilton import driver
from hamilton.execution import executors
from hamilton.io.materialization import to

mode = sys.argv[1] if len(sys.argv) > 1 else "multithreading"
if mode == "local":
    remote_executor = executors.SynchronousLocalTaskExecutor()
else:
    remote_executor = executors.MultiThreadingExecutor(max_tasks=4)
dr = (
    driver.Builder()
    .enable_dynamic_execution(allow_experimental_mode=True)
    .with_remote_executor(remote_executor)
    .with_modules(aggregate_data, list_data, process_data)
    .build()
)
stats = dr.execute(final_vars=["statistics_by_city"], inputs={"data_dir": "data"})[
    "statistics_by_city"
]
metadata, extra = dr.materialize(
    to.json(id="stats_json", dependencies=["statistics_by_city"], path="stats.json"),
    additional_vars=["statistics_by_city"],
    inputs={"data_dir": "data"},
)
with open("stats.json") as f:
    saved = json.load(f)
print(
    json.dumps(
        {
            "stats": stats,
            "saved": saved,
            "extra": extra,
            "metadata_keys": sorted(metadata["stats_json"]),
            "saved_path": metadata["stats_json"]["file_metadata"]["path"],
        },
        sort_keys=True,
    )
)
