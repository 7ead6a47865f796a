"""W0 with sync nodes: ten independent nodes off input ``x``, a join, an eight-step chain.

Twenty nodes counting the input; the run asks for ``c8``. Used by asyncdag and by
Hamilton (``Driver``).
"""

from __future__ import annotations


def a0(x: int) -> int:
    return x + 0


def a1(x: int) -> int:
    return x + 1


def a2(x: int) -> int:
    return x + 2


def a3(x: int) -> int:
    return x + 3


def a4(x: int) -> int:
    return x + 4


def a5(x: int) -> int:
    return x + 5


def a6(x: int) -> int:
    return x + 6


def a7(x: int) -> int:
    return x + 7


def a8(x: int) -> int:
    return x + 8


def a9(x: int) -> int:
    return x + 9


def join(
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


def c1(join: int) -> int:
    return join + 1


def c2(c1: int) -> int:
    return c1 + 1


def c3(c2: int) -> int:
    return c2 + 1


def c4(c3: int) -> int:
    return c3 + 1


def c5(c4: int) -> int:
    return c4 + 1


def c6(c5: int) -> int:
    return c5 + 1


def c7(c6: int) -> int:
    return c6 + 1


def c8(c7: int) -> int:
    return c7 + 1
