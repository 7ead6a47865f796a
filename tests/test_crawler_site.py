"""The embedded site and what the crawler reads of it: both HTML parsers agree page by page,
and the link graph's totals for a crawl that follows links hold whatever the crawl's order."""

from __future__ import annotations

import random

import pytest

from examples.crawler.pages import Fetched
from examples.crawler.parsing import DEFAULT_PARSER, PARSERS, parse_page, words_of
from examples.crawler.site import CHAIN, ROOT, EmbeddedSite, SiteConfig, tokenize
from examples.crawler.urls import normalize_url

SITE = EmbeddedSite(SiteConfig(pages=600))


def test_the_c_parser_is_the_default_when_installed() -> None:
    assert DEFAULT_PARSER == "lexbor" and set(PARSERS) == {"lexbor", "html.parser"}


@pytest.mark.parametrize("page", [SITE.root, *SITE.pages], ids=lambda p: f"{p.kind}-{p.number}")
def test_both_parsers_find_the_words_and_links_the_site_wrote(page: object) -> None:
    from examples.crawler.site import Page

    assert isinstance(page, Page)
    if not page.body:
        return
    fetched = Fetched(page.path, page.path, 200, "text/html", "utf-8", page.body)
    found = {name: parse_page(fetched, name) for name in PARSERS}
    lexbor, stdlib = found["lexbor"], found["html.parser"]
    assert lexbor == stdlib  # url, status, bytes, words, links
    assert lexbor.found == stdlib.found and lexbor.hrefs == stdlib.hrefs
    assert lexbor.found == list(page.words)
    assert lexbor.hrefs == tuple(a.href for a in page.anchors)


def test_words_are_runs_of_letters_in_any_script() -> None:
    assert words_of("Hello, WORLD: 3 x_y café-Über") == ["hello", "world", "x", "y", "café", "über"]
    assert words_of("a&b") == tokenize("a&b") == ["a", "b"]


def _crawl_in_random_order(
    site: EmbeddedSite, depth: int | None, rng: random.Random
) -> tuple[int, int, int]:
    """A crawl that follows links as a concurrent crawler would, in a random order: a URL
    is taken up when first found within the depth bound; returns (URLs, ok, links)."""
    base = "http://127.0.0.1:8000"
    seen = {normalize_url(base + ROOT)}
    pending = [(ROOT, 0)]
    urls = ok = links = 0
    while pending:
        target, d = pending.pop(rng.randrange(len(pending)))
        urls += 1
        page = site._by_path.get(target) if target.startswith("/") else None
        if page is None or site._outcome(page, False, 1 << 20, 5, True)[0] != "ok":
            continue
        ok += 1
        links += page.links
        final = base + f"/page/{page.number}" if page.kind == "moved" else base + page.path
        for anchor in page.anchors:
            from urllib.parse import urljoin

            url = normalize_url(urljoin(final, anchor.href))
            if url in seen or (depth is not None and d + 1 > depth):
                continue
            seen.add(url)
            pending.append((anchor.target, d + 1))
    return urls, ok, links


@pytest.mark.parametrize("depth", [0, 1, 2, 3, 4, 8, None])
def test_the_follow_totals_hold_in_any_order(depth: int | None) -> None:
    want = SITE.expected_follow(depth)
    for seed in range(10):
        assert _crawl_in_random_order(SITE, depth, random.Random(seed)) == (
            want.listed,
            want.ok,
            want.links,
        )


def test_the_link_graph_has_what_a_crawler_must_cope_with() -> None:
    full = SITE.expected_follow()
    assert full.ok == SITE.expected().ok + 1  # every page is reachable from the root (+ itself)
    assert full.skipped["off-origin"] > SITE.expected().skipped["off-origin"]
    assert full.skipped["robots.txt"] == SITE.expected().skipped["robots.txt"]
    depths = [SITE.expected_follow(d).listed for d in range(CHAIN + 3)]
    assert depths == sorted(depths) and depths[0] == 1  # depth 0: the root alone
    assert depths[CHAIN] < depths[CHAIN + 2]  # the deep chain is still being followed
    hrefs = [a.href for p in [SITE.root, *SITE.pages] for a in p.anchors]
    assert any("#" in h for h in hrefs) and any(h.isdigit() for h in hrefs)  # fragments, relative
    targets = [a.target for p in SITE.pages for a in p.anchors]
    assert ROOT in targets  # cycles back to the root
