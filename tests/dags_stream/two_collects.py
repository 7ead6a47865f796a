"""Functions with several Collect parameters, from the same expander and from two."""

from __future__ import annotations

import asyncio

from asyncdag.htypes import Collect, Parallelizable


def xs(n: int) -> Parallelizable[int]:
    yield from range(n)


async def ys(letters: str) -> Parallelizable[str]:
    for letter in letters:
        await asyncio.sleep(0)
        yield letter


def x_sq(xs: int) -> int:
    return xs * xs


async def x_neg(xs: int) -> int:
    await asyncio.sleep(0)
    return -xs


def y_up(ys: str, xs_total: int) -> str:
    return f"{ys.upper()}{xs_total}"


def xs_total(x_sq: Collect[int]) -> int:
    return sum(x_sq)


def same(x_sq: Collect[int], x_neg: Collect[int]) -> list[tuple[int, int]]:
    return list(zip(x_sq, x_neg))


def different(x_neg: Collect[int], y_up: Collect[str], sep: str) -> str:
    return sep.join(f"{x}{y}" for x, y in zip(x_neg, y_up)) + f"|{len(x_neg)}|{len(y_up)}"


async def with_items(xs: Collect[int], ys: Collect[str], y_up: Collect[str]) -> list[object]:
    return [*xs, *ys, *y_up]


def _reference(n: int, letters: str, sep: str) -> dict[str, object]:
    x_sq = [x * x for x in range(n)]
    x_neg = [-x for x in range(n)]
    y_up = [f"{c.upper()}{sum(x_sq)}" for c in letters]
    return {
        "xs_total": sum(x_sq),
        "y_up": y_up,
        "same": list(zip(x_sq, x_neg)),
        "different": sep.join(f"{x}{y}" for x, y in zip(x_neg, y_up)) + f"|{n}|{len(letters)}",
        "with_items": [*range(n), *letters, *y_up],
    }
