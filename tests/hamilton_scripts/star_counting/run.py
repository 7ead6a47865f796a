import json

import functions
from hamilton import driver
from hamilton.execution import executors

results = {}
for mode, remote in [
    ("local", executors.SynchronousLocalTaskExecutor()),
    ("multithreading", executors.MultiThreadingExecutor(max_tasks=3)),
]:
    dr = (
        driver.Builder()
        .enable_dynamic_execution(allow_experimental_mode=True)
        .with_modules(functions)
        .with_remote_executor(remote)
        .build()
    )
    results[mode] = dr.execute(
        ["final_count", "unique_stargazers"],
        inputs={"repositories": ["org/a", "org/b", "org/c", "org/d"], "api": functions.STARGAZERS},
    )
print(json.dumps(results, sort_keys=True))
