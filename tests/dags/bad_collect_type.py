"""Invalid: ``doubled`` returns int, ``joined`` collects it as ``Collect[str]``.

``build()`` must raise ``TypeMismatchError`` naming ``doubled`` and ``joined``.
"""

from asyncdag.htypes import Collect, Parallelizable


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


def doubled(item: int) -> int:
    return item * 2


def joined(doubled: Collect[str]) -> str:
    return ",".join(doubled)
