"""One link-following crawl per site, nested in a block over the sites."""

from __future__ import annotations

from asyncdag.htypes import Collect, Discovered, Frontier, Parallelizable


def site_name(sites: dict[str, dict[str, list[str]]]) -> Parallelizable[str]:
    yield from sites


def url(site_name: str, depth: int | None) -> Frontier[str]:
    return Frontier(["/"], max_depth=depth)


def page(url: str, site_name: str, sites: dict[str, dict[str, list[str]]]) -> list[str]:
    return sites[site_name][url]


def links(page: list[str]) -> Discovered[str]:
    return page


def pages_of_site(url: Collect[str]) -> int:
    return len(url)


def per_site(pages_of_site: Collect[int]) -> list[int]:
    return list(pages_of_site)
