"""Two nested blocks, every kind of collector, a config value, an optional input.

region (sync expander) > shop (async expander, inside region's block) > sale (per shop).
``sales`` collects a region's sales inside region's block; ``summaries`` (Collect) and
``summary_chars`` (CollectAsCompleted) both collect region summaries; ``shop_count`` streams
the shops' names; ``report`` reads an optional input; ``unused`` is never needed by report.
"""

from __future__ import annotations

from asyncdag.htypes import Collect, CollectAsCompleted, CollectStream, Parallelizable


def prefix(mode: str) -> str:
    return f"{mode}:"


def region(regions: list[str]) -> Parallelizable[str]:
    yield from regions


async def shop(region: str, shops_per_region: int) -> Parallelizable[str]:
    for i in range(shops_per_region):
        yield f"{region}-{i}"


def sale(shop: str, prefix: str) -> str:
    return prefix + shop


def sales(sale: Collect[str]) -> list[str]:
    return list(sale)


async def shop_count(shop: CollectStream[str]) -> int:
    n = 0
    async for _ in shop:
        n += 1
    return n


def region_summary(sales: list[str], shop_count: int, region: str) -> str:
    return f"{region}={shop_count}:{','.join(sales)}"


def summaries(region_summary: Collect[str]) -> list[str]:
    return list(region_summary)


async def summary_chars(region_summary: CollectAsCompleted[str]) -> int:
    n = 0
    async for text in region_summary:
        n += len(text)
    return n


def report(summaries: list[str], summary_chars: int, scale: int = 1) -> str:
    return f"{';'.join(summaries)} ({summary_chars * scale})"


def unused(regions: list[str]) -> int:
    return len(regions)


def _reference(regions: list[str], shops_per_region: int, mode: str) -> dict[str, object]:
    summaries = []
    for r in regions:
        sales = [f"{mode}:{r}-{i}" for i in range(shops_per_region)]
        summaries.append(f"{r}={shops_per_region}:{','.join(sales)}")
    chars = sum(len(s) for s in summaries)
    return {"summaries": summaries, "report": f"{';'.join(summaries)} ({chars})"}
