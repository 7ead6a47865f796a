"""W0 with async nodes: ten independent nodes off input ``x``, a join, an eight-step chain.

Twenty nodes counting the input; the run asks for ``c8``. Used by asyncdag and by
Hamilton (``AsyncDriver``).
"""

from __future__ import annotations


async def a0(x: int) -> int:
    return x + 0


async def a1(x: int) -> int:
    return x + 1


async def a2(x: int) -> int:
    return x + 2


async def a3(x: int) -> int:
    return x + 3


async def a4(x: int) -> int:
    return x + 4


async def a5(x: int) -> int:
    return x + 5


async def a6(x: int) -> int:
    return x + 6


async def a7(x: int) -> int:
    return x + 7


async def a8(x: int) -> int:
    return x + 8


async def a9(x: int) -> int:
    return x + 9


async def join(
    a0: int,
    a1: int,
    a2: int,
    a3: int,
    a4: int,
    a5: int,
    a6: int,
    a7: int,
    a8: int,
    a9: int,
) -> int:
    return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9


async def c1(join: int) -> int:
    return join + 1


async def c2(c1: int) -> int:
    return c1 + 1


async def c3(c2: int) -> int:
    return c2 + 1


async def c4(c3: int) -> int:
    return c3 + 1


async def c5(c4: int) -> int:
    return c4 + 1


async def c6(c5: int) -> int:
    return c5 + 1


async def c7(c6: int) -> int:
    return c6 + 1


async def c8(c7: int) -> int:
    return c7 + 1
