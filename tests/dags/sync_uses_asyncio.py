"""A sync node that drives its own event loop, as sync wrappers of async libraries do.

Under Hamilton's ``driver.execute`` this is plain sync code and works; it must work under
asyncdag's ``execute()`` and ``aexecute()`` too.
"""

import asyncio


async def _double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


def doubled_via_asyncio_run(x: int) -> int:
    return asyncio.run(_double(x))


def plus_one(doubled_via_asyncio_run: int) -> int:
    return doubled_via_asyncio_run + 1


def _reference(x: int) -> dict[str, int]:
    return {"doubled_via_asyncio_run": 2 * x, "plus_one": 2 * x + 1}
