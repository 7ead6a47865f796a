"""Every node records its name in the ``calls`` input, so a test can tell which nodes ran.

::

    x -> a -> b -> c
         a -> d
"""

import asyncio


def a(x: int, calls: list) -> int:
    calls.append("a")
    return x + 1


async def b(a: int, calls: list) -> int:
    calls.append("b")
    await asyncio.sleep(0)
    return a * 10


def c(b: int, calls: list) -> int:
    calls.append("c")
    return b + 5


def d(a: int, calls: list) -> int:
    calls.append("d")
    return a - 1


def _reference(x: int, **overrides: int) -> dict[str, int]:
    values: dict[str, int] = dict(overrides)
    values.setdefault("a", x + 1)
    values.setdefault("b", values["a"] * 10)
    values.setdefault("c", values["b"] + 5)
    values.setdefault("d", values["a"] - 1)
    return values
