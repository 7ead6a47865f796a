"""A link-following crawl of a random graph, for the Frontier property test with faults.

Items are ``(page, depth)``: a page's links come back one level deeper than the page, so a
node sees the depth the frontier gave its item and the test can check the bounds exactly.
``Site`` is an input (it pickles: processes get it too); ``config`` picks the error policy of
``page`` and whether the crawl is nested in an outer block (one crawl per start page).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from asyncdag.function_modifiers import config
from asyncdag.htypes import Collect, Discovered, Frontier, Parallelizable
from asyncdag.policies import on_error

#: set by the test in its own process: called on every page call (cancels the run at the
#: n-th); workers of another process have none
TICK: Callable[[], None] | None = None

Item = tuple[int, int]


class Injected(Exception):
    """The fault the test plants, naming the page."""

    def __init__(self, where: str, page: int) -> None:
        super().__init__(f"{where} of page {page}")
        self.where = where
        self.page = page

    def __reduce__(self) -> Any:
        return (Injected, (self.where, self.page))


@dataclass(frozen=True)
class Site:
    links: dict[int, tuple[int, ...]]
    starts: tuple[int, ...] = (0,)
    max_depth: int | None = None
    max_items: int | None = None
    order: str = "breadth"
    fail_page: frozenset[int] = field(default_factory=frozenset)  # page raises
    fail_links: frozenset[int] = field(default_factory=frozenset)  # links raises
    yields: int = 1  # loop turns a page call gives away


def _key(item: Item) -> int:
    return item[0]


def _frontier(start: int, site: Site) -> Frontier[Item]:
    return Frontier(
        [(start, 0)],
        key=_key,
        max_depth=site.max_depth,
        max_items=site.max_items,
        order=site.order,
    )


@config.when_not(nested=True)
def url__flat(site: Site) -> Frontier[Item]:
    return _frontier(site.starts[0], site)


@config.when(nested=True)
def start(site: Site) -> Parallelizable[int]:
    yield from site.starts


@config.when(nested=True)
def url__nested(start: int, site: Site) -> Frontier[Item]:
    return _frontier(start, site)


async def _visit(url: Item, site: Site) -> Item:
    if TICK is not None:
        TICK()
    for _ in range(site.yields):
        await asyncio.sleep(0)
    if url[0] in site.fail_page:
        raise Injected("page", url[0])
    return url


@config.when(policy="raise")
async def page__raise(url: Item, site: Site) -> Item:
    return await _visit(url, site)


@config.when(policy="deliver")
@on_error("deliver")
async def page__deliver(url: Item, site: Site) -> Item:
    return await _visit(url, site)


@config.when(policy="skip")
@on_error("skip")
async def page__skip(url: Item, site: Site) -> Item:
    return await _visit(url, site)


def links(page: Item, site: Site) -> Discovered[Item]:
    number, depth = page
    if number in site.fail_links:
        raise Injected("links", number)
    return [(q, depth + 1) for q in site.links[number]]


@config.when_not(nested=True)
def crawled__flat(page: Collect[Any]) -> list[Any]:
    return list(page)


@config.when(nested=True)
def per_start(page: Collect[Any]) -> list[Any]:
    return list(page)


@config.when(nested=True)
def crawled__nested(per_start: Collect[list[Any]]) -> list[list[Any]]:
    return list(per_start)
