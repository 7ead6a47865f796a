"""A plain map-reduce: one sync generator, a two-node block with a broadcast input, two
collectors. Picklable (no probes), so it also runs on worker processes."""

from __future__ import annotations

from asyncdag.htypes import Collect, Parallelizable


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


def squared(item: int) -> int:
    return item * item


def shifted(squared: int, item: int, offset: int) -> int:
    return squared - item + offset


def total(shifted: Collect[int]) -> int:
    return sum(shifted)


def as_list(shifted: Collect[int]) -> list[int]:
    return list(shifted)


def _reference(n: int, offset: int) -> dict[str, object]:
    values = [i * i - i + offset for i in range(n)]
    return {"total": sum(values), "as_list": values, "shifted": values}
