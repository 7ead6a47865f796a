"""Invalid: ``pair`` reads the items of two different expanders at once.

``build()`` must raise ``ScopeError`` naming ``pair``.
"""

from asyncdag.htypes import Collect, Parallelizable


def letter(letters: str) -> Parallelizable[str]:
    yield from letters


def digit(n: int) -> Parallelizable[int]:
    yield from range(n)


def pair(letter: str, digit: int) -> str:
    return f"{letter}{digit}"


def pairs(pair: Collect[str]) -> list[str]:
    return list(pair)
