"""Invalid: ``weird`` collects ``squared`` while also reading ``item``, so it runs inside the
very block it collects.

``build()`` must raise ``ScopeError`` naming ``weird``.
"""

from asyncdag.htypes import Collect, Parallelizable


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


def squared(item: int) -> int:
    return item * item


def weird(item: int, squared: Collect[int]) -> int:
    return item + sum(squared)
