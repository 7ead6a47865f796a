"""Every annotation is a string here (PEP 563); the graph must see the real types.

Covers a class defined in the module (not a node), builtin generics, ``X | None``, a
Parallelizable / Collect pair, and a hint naming a type imported only under ``TYPE_CHECKING``
(unresolvable at run time: treated as ``Any``, not a build failure).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from asyncdag.htypes import Collect, Parallelizable

if TYPE_CHECKING:
    from decimal import Decimal


@dataclasses.dataclass(frozen=True)
class Point:
    x: float
    y: float


def origin(x0: float = 0.0, y0: float = 0.0) -> Point:
    return Point(x0, y0)


def shifted(origin: Point, dx: float, dy: float = 0.0) -> Point:
    return Point(origin.x + dx, origin.y + dy)


def coordinate(shifted: Point) -> Parallelizable[float]:
    yield shifted.x
    yield shifted.y


def squared(coordinate: float) -> float:
    return coordinate * coordinate


def norm_sq(squared: Collect[float]) -> float:
    return sum(squared)


def history(shifted: Point, past: list[Point] | None = None) -> list[Point]:
    return [*(past or []), shifted]


def report(norm_sq: float, unit: Decimal | None = None) -> str:
    return f"{norm_sq}{'' if unit is None else unit}"


def _reference(
    dx: float, x0: float = 0.0, y0: float = 0.0, dy: float = 0.0, past: list[Point] | None = None
) -> dict[str, object]:
    point = Point(x0 + dx, y0 + dy)
    norm = point.x**2 + point.y**2
    return {
        "shifted": point,
        "norm_sq": norm,
        "history": [*(past or []), point],
        "report": f"{norm}",
    }
