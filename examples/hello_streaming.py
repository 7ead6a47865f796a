"""A first asyncdag dataflow: fan out over items as they are produced, fan back in.

Run it with ``python examples/hello_streaming.py``.
"""

from __future__ import annotations

import asyncio

from asyncdag.htypes import Collect, CollectStream, Parallelizable


def words(text: str) -> Parallelizable[str]:
    """The expander: each word opens one block instance, as soon as it is yielded."""
    yield from text.split()


async def shouted(words: str) -> str:
    """Per item, async: awaited on the event loop, many items at once."""
    await asyncio.sleep(0.001)
    return words.upper()


def length(shouted: str) -> int:
    """Per item, sync."""
    return len(shouted)


def longest(shouted: Collect[str]) -> str:
    """A collector: the block's values as a list, in yield order."""
    return max(shouted, key=len)


async def total_length(length: CollectStream[int]) -> int:
    """A streaming collector: values arrive one by one; memory stays at the window."""
    total = 0
    async for n in length:
        total += n
    return total


def main() -> None:
    import sys

    from asyncdag import driver

    dr = driver.Builder().with_modules(sys.modules[__name__]).build()
    result = dr.execute(
        ["longest", "total_length", "shouted"], inputs={"text": "streams of words flow by"}
    )
    print(result)


if __name__ == "__main__":
    main()
