"""The expander for the ordering tests: ``n`` items, ``0 .. n-1``."""

from __future__ import annotations

from asyncdag.htypes import Parallelizable


def items(n: int) -> Parallelizable[int]:
    yield from range(n)
