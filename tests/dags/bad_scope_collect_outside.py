"""Invalid: ``total`` collects ``plain``, which is not inside any Parallelizable block.

``build()`` must raise ``ScopeError`` naming ``total`` and ``plain``.
"""

from asyncdag.htypes import Collect


def plain(x: int) -> int:
    return x


def total(plain: Collect[int]) -> int:
    return sum(plain)
