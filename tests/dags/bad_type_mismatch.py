"""Invalid: ``count`` returns int but ``label`` reads it as str (its second parameter).

The first edges are fine, so the check must look at every edge, not the first one.
``build()`` must raise ``TypeMismatchError`` naming ``count`` and ``label``.
"""


def count(seed: int) -> int:
    return seed


def ratio(count: int) -> float:
    return count / 2


def label(ratio: float, count: str) -> str:
    return f"{count}/{ratio}"
