"""Every node records its name in the ``calls`` input, so a test can tell which nodes ran.

::

    x -> a -> b -> c
         a -> d -> e -> f      (d, e, f: a chain of sync nodes, each the only reader of the last)
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


def e(d: int, calls: list) -> int:
    calls.append("e")
    return d * 7


def f(e: int, calls: list) -> int:
    calls.append("f")
    return e + 2


def _reference(x: int, **overrides: int) -> dict[str, int]:
    values: dict[str, int] = dict(overrides)
    values.setdefault("a", x + 1)
    values.setdefault("b", values["a"] * 10)
    values.setdefault("c", values["b"] + 5)
    values.setdefault("d", values["a"] - 1)
    values.setdefault("e", values["d"] * 7)
    values.setdefault("f", values["e"] + 2)
    return values
