"""A link-following crawl of an in-memory site, written as plain functions.

``site`` maps a page to the pages it links to: a tree under ``/`` with links back to
ancestors (cycles) and the same link twice, so that a correct crawl dedupes and stops.
"""

from __future__ import annotations

import asyncio
from typing import Any

from asyncdag.htypes import Collect, Discovered, Frontier


def url(
    root: str, depth: int | None, max_items: int | None, order: str = "breadth"
) -> Frontier[str]:
    return Frontier(
        [root],
        key=lambda u: u.rstrip("/") or "/",
        max_depth=depth,
        max_items=max_items,
        order=order,
    )


async def page(url: str, site: dict[str, list[str]], probe: dict[str, Any]) -> list[str]:
    probe.setdefault("started", []).append(url)
    probe["now"] = probe.get("now", 0) + 1
    probe["most"] = max(probe.get("most", 0), probe["now"])
    try:
        await asyncio.sleep(0)
        if url in probe.get("broken", ()):
            raise LookupError(f"{url} is broken")
        return site[url]
    finally:
        probe["now"] -= 1


def links(page: list[str]) -> Discovered[str]:
    return list(page)


def crawled(url: Collect[str]) -> list[str]:
    return sorted(url)


def make_site(fanout: int = 3, levels: int = 3) -> dict[str, list[str]]:
    site: dict[str, list[str]] = {}

    def grow(path: str, level: int, ancestors: list[str]) -> None:
        children = [f"{path.rstrip('/')}/{i}" for i in range(fanout)] if level < levels else []
        site[path] = children + children[:1] + ancestors[-2:]  # a duplicate, back links
        for child in children:
            grow(child, level + 1, [*ancestors, path])

    grow("/", 0, [])
    return site


def reference(site: dict[str, list[str]], depth: int | None) -> list[str]:
    """Breadth first from the root, each page once, within ``depth``."""
    seen, level, d = {"/"}, ["/"], 0
    while level and (depth is None or d < depth):
        nxt = []
        for p in level:
            for q in site[p]:
                if q not in seen:
                    seen.add(q)
                    nxt.append(q)
        level, d = nxt, d + 1
    return sorted(seen)
