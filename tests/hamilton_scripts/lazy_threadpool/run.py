import asyncio
import json

import my_functions
from hamilton import async_driver, driver
from hamilton.plugins import h_threadpool

adapter = h_threadpool.FutureAdapter(max_workers=4)
dr = driver.Builder().with_modules(my_functions).with_adapters(adapter).build()
threaded = dr.execute(["s", "x", "a"])


async def run_async():
    import my_functions_async

    adr = await async_driver.Builder().with_modules(my_functions_async).build()
    return await adr.execute(["s", "x", "a"])


print(json.dumps({"threaded": threaded, "async": asyncio.run(run_async())}, sort_keys=True))
