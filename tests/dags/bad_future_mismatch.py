"""Invalid, with string annotations: ``scores`` returns list[int], ``ranking`` wants dict.

``build()`` must raise ``TypeMismatchError`` naming ``scores`` and ``ranking``.
"""

from __future__ import annotations


def scores(n: int) -> list[int]:
    return list(range(n))


def ranking(scores: dict[str, int]) -> list[str]:
    return sorted(scores)
