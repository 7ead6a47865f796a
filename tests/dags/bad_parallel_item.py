"""Invalid: the expander yields int items, the block's node reads a str.

``build()`` must raise ``TypeMismatchError`` naming ``item`` and ``shout``.
"""

from asyncdag.htypes import Collect, Parallelizable


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


def shout(item: str) -> str:
    return item.upper()


def shouts(shout: Collect[str]) -> list[str]:
    return list(shout)
