"""Outer nodes read by every item (computed once), collectors with extra outer inputs, and
Collect straight on an expander. ``calls`` counts every call."""

from __future__ import annotations

import asyncio

from asyncdag.htypes import Collect, Parallelizable
from tests.dags_stream.probes import Calls


def base(seed: int, calls: Calls) -> int:
    calls.hit("base")
    return seed * 10


async def factor(seed: int, calls: Calls) -> int:
    calls.hit("factor")
    await asyncio.sleep(0)
    return seed + 1


def items(n: int, calls: Calls) -> Parallelizable[int]:
    calls.hit("items")
    yield from range(n)


def scaled(items: int, base: int, factor: int, calls: Calls) -> int:
    calls.hit("scaled")
    return items * factor + base


async def tagged(scaled: int, label: str, calls: Calls) -> str:
    calls.hit("tagged")
    return f"{label}{scaled}"


def summary(scaled: Collect[int], tagged: Collect[str], base: int, bonus: int, calls: Calls) -> str:
    calls.hit("summary")
    return f"{sum(scaled) + bonus}:{','.join(tagged)}:{base}"


def report(summary: str, factor: int) -> str:
    return f"{summary}/{factor}"


def items_seen(items: Collect[int]) -> list[int]:
    return list(items)


def _reference(
    seed: int, n: int, label: str, bonus: int, items: list[int] | None = None
) -> dict[str, object]:
    base, factor = seed * 10, seed + 1
    its = list(range(n)) if items is None else items
    scaled = [i * factor + base for i in its]
    tagged = [f"{label}{s}" for s in scaled]
    summary = f"{sum(scaled) + bonus}:{','.join(tagged)}:{base}"
    return {
        "base": base,
        "factor": factor,
        "scaled": scaled,
        "tagged": tagged,
        "summary": summary,
        "report": f"{summary}/{factor}",
        "items_seen": its,
    }
