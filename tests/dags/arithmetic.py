"""A static, all-sync DAG with an optional input (``step``).

It also pins what is *not* a node: the imported ``join`` and the ``_private`` helpers.
Annotations here are evaluated eagerly (no ``from __future__ import annotations``).
"""

from os.path import join  # noqa: F401 - an imported function: must not become a node


def base(x: int) -> int:
    """x plus one."""
    return x + 1


def doubled(base: int) -> int:
    return base * 2


def offset(base: int, step: int = 10) -> int:
    return base + step


def total(doubled: int, offset: int) -> int:
    return _combine(doubled, offset)


def _combine(a: int, b: int) -> int:
    return a + b


def _reference(x: int, step: int = 10) -> dict[str, int]:
    base_ = x + 1
    doubled_ = base_ * 2
    offset_ = base_ + step
    return {"base": base_, "doubled": doubled_, "offset": offset_, "total": doubled_ + offset_}
