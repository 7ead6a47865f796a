"""The crawler following links (``--follow``): the embedded site's link graph crawled with the
exact totals at each depth, robots.txt and the origins checked for every discovered link,
redirect hops included, a line per URL in the results file; links resolved as ``urljoin``
does; bounds; worker processes; the command line."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urljoin

import anyio
import pytest
from aiohttp import web

from examples.crawler.report import CrawlTotals
from examples.crawler.runner import crawl, executor_for
from examples.crawler.site import EmbeddedSite, Expected, SiteConfig
from examples.crawler.urls import CrawlLimits, absolute_links, check_url

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
SMALL = SiteConfig(pages=300, latency=0.001, slow_latency=0.01)


def local(site: EmbeddedSite, **bounds: object) -> CrawlLimits:
    return CrawlLimits.for_urls(site.base_url, **{"concurrency": 32, **bounds})


def assert_matches(found: CrawlTotals, want: Expected) -> None:
    assert found.urls == want.listed
    assert found.ok == want.ok
    assert dict(found.failed) == want.failed
    assert dict(found.skipped) == want.skipped
    assert found.words == want.words
    assert found.links == want.links
    assert found.bytes == want.bytes
    assert found.top_words() == want.top_words


# -- the embedded site's link graph ------------------------------------------------------


@pytest.mark.parametrize("order", ["breadth", "depth"])
@pytest.mark.parametrize("depth", [0, 1, 2, 3, 5, None])
async def test_the_link_graph_is_crawled_with_the_exact_totals_at_each_depth(
    depth: int | None, order: str, tmp_path: Path
) -> None:
    out = tmp_path / "pages.jsonl"
    async with EmbeddedSite(SMALL) as site:
        with anyio.fail_after(60):
            result = await crawl(
                site.base_url + "/",
                local(site),
                output_path=str(out),
                follow=True,
                max_depth=depth,
                order=order,
            )
        want = site.expected_follow(depth)
        stats = site.stats
    assert_matches(result.totals, want)
    # a line per URL of the crawl, each URL once
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert result.lines == len(lines) == want.listed
    assert len({line["url"] for line in lines}) == len(lines)
    # off the origin nothing was requested (links to localhost, and the redirects there)
    assert stats.by_host["localhost"] == 0
    # each page was fetched once (flaky pages: once per attempt), robots.txt once
    assert stats.robots == 1
    pages = {path: n for path, n in stats.by_path.items() if path.startswith("/page/")}
    flaky = {f"/page/{p.number}": p.fails + 1 for p in site.pages if p.kind == "flaky"}
    assert all(n == flaky.get(path, 1) for path, n in pages.items()), pages


async def test_the_deep_chain_and_the_cycles_end() -> None:
    async with EmbeddedSite(SMALL) as site:
        with anyio.fail_after(60):
            result = await crawl(site.base_url + "/", local(site), follow=True)
        want = site.expected_follow()
        # the root is linked back from many pages and fetched once
        assert site.stats.by_path["/"] == 1
    assert_matches(result.totals, want)
    assert want.ok == site.expected().ok + 1  # every page of the sitemap, and the root


async def test_robots_txt_is_honoured_for_discovered_links() -> None:
    async with EmbeddedSite(SMALL) as site:
        private = [p for p in site.pages if p.kind == "private" and p.layer is not None]
        with anyio.fail_after(60):
            result = await crawl(site.base_url + "/", local(site), follow=True)
        asked = [path for path in site.stats.by_path if path.startswith("/private/")]
        with anyio.fail_after(60):
            ignoring = await crawl(
                site.base_url + "/", local(site, robots=False), follow=True, max_depth=None
            )
        asked_ignoring = [path for path in site.stats.by_path if path.startswith("/private/")]
    assert private, "the site's link graph leads to pages robots.txt disallows"
    assert asked == [], "a page robots.txt disallows was requested"
    assert result.totals.skipped["robots.txt"] == len(private)
    assert sorted(asked_ignoring) == sorted(p.path for p in private)
    assert "robots.txt" not in ignoring.totals.skipped


async def test_a_follow_crawl_from_the_sitemap_starts_from_every_url_it_lists() -> None:
    # depth 0 and no bound only: with a bound, a listed URL that a page links to before the
    # sitemap reaches it is taken up as that link, one deeper, and its own links may then
    # be beyond the bound, depending on timing
    async with EmbeddedSite(SMALL) as site:
        for depth in (0, None):
            with anyio.fail_after(60):
                result = await crawl(site.sitemap_url, local(site), follow=True, max_depth=depth)
            assert_matches(result.totals, site.expected_follow(depth, from_sitemap=True))
    assert site.expected_follow(0, from_sitemap=True) == site.expected()


async def test_max_pages_bounds_the_urls_taken_up() -> None:
    async with EmbeddedSite(SMALL) as site:
        with anyio.fail_after(60):
            result = await crawl(site.base_url + "/", local(site, max_pages=40), follow=True)
        pages = sum(n for path, n in site.stats.by_path.items() if path != "/robots.txt")
    assert result.totals.urls == 40
    flaky_retries = sum(p.fails for p in site.pages if p.kind == "flaky")
    assert pages <= 40 + flaky_retries + 5 * 5  # a page, its retries, its redirect hops


async def test_following_links_on_worker_processes_finds_the_same() -> None:
    config = SiteConfig(pages=120, latency=0.001, slow_latency=0.005)
    async with EmbeddedSite(config) as site:
        limits = local(site)
        executor = executor_for(limits, 2)
        try:
            with anyio.fail_after(90):
                result = await crawl(
                    site.base_url + "/", limits, follow=True, max_depth=3, executor=executor
                )
        finally:
            executor.close()
        assert_matches(result.totals, site.expected_follow(3))


# -- the origins: links and redirects to another server ----------------------------------

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


class Server:
    def __init__(self) -> None:
        self.port = 0
        self.requests: Counter[str] = Counter()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[Server]:
    server = Server()

    async def counted(request: web.BaseRequest) -> web.StreamResponse:
        server.requests[request.path] += 1
        return await handler(request)

    runner = web.ServerRunner(web.Server(counted), handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.port = runner.addresses[0][1]
    try:
        yield server
    finally:
        await runner.cleanup()


def page(*hrefs: str) -> web.Response:
    links = "".join(f'<a href="{h}">x</a>' for h in hrefs)
    body = f"<html><body><p>words</p>{links}</body></html>"
    return web.Response(text=body, content_type="text/html")


@asynccontextmanager
async def two_servers() -> AsyncIterator[tuple[Server, Server]]:
    """``a``: a site whose pages link to ``b`` (another port of the same host), directly and
    through a redirect; ``b``: a site whose pages link on."""
    other: list[Server] = []

    async def b(request: web.BaseRequest) -> web.StreamResponse:
        if request.path == "/robots.txt":
            return web.Response(status=404)
        if request.path == "/":
            return page("/b1", "/b2")
        return page("/")

    async def a(request: web.BaseRequest) -> web.StreamResponse:
        b_base = other[0].base
        if request.path == "/robots.txt":
            return web.Response(status=404)
        if request.path == "/":
            return page("/a1", f"{b_base}/", "/away", "mailto:me@a.test", "javascript:void(0)")
        if request.path == "/away":
            raise web.HTTPFound(f"{b_base}/b1")
        return page("/", "/a2", "#top")

    async with serve(b) as server_b:
        other.append(server_b)
        async with serve(a) as server_a:
            yield server_a, server_b


async def test_links_and_redirects_to_another_origin_are_skipped_unrequested() -> None:
    async with two_servers() as (a, b):
        with anyio.fail_after(30):
            result = await crawl(a.base + "/", CrawlLimits.for_urls(a.base), follow=True)
    assert b.requests == Counter(), "a discovered link led off the allowed origins"
    totals = result.totals
    assert (totals.ok, dict(totals.failed)) == (3, {})  # /, /a1, /a2
    assert dict(totals.skipped) == {"off-origin": 2}  # b's root; /away's redirect to b
    assert a.requests["/"] == 1 and a.requests["/away"] == 1


async def test_allow_host_lets_the_crawl_follow_onto_another_origin() -> None:
    async with two_servers() as (a, b):
        limits = CrawlLimits.for_urls(a.base, allow=[f"127.0.0.1:{b.port}"])
        with anyio.fail_after(30):
            result = await crawl(a.base + "/", limits, follow=True)
    totals = result.totals
    # a: /, /a1, /a2, /away (redirected to b's /b1); b: /, /b1, /b2. A URL is taken up once
    # by the URL a link names: /away and b's /b1 are two, though one redirects to the other
    assert (totals.ok, dict(totals.failed), dict(totals.skipped)) == (7, {}, {})
    assert b.requests == Counter({"/robots.txt": 1, "/": 1, "/b1": 2, "/b2": 1})


# -- links as urljoin resolves them ----------------------------------------------------


def _reference(base: str, hrefs: list[str]) -> list[str]:
    found = []
    for href in hrefs:
        try:
            url = urljoin(base, href.strip()).partition("#")[0]
        except ValueError:
            continue
        if url[:8].lower().startswith(("http://", "https://")) and check_url(url) is None:
            found.append(url)
    return found


def test_links_resolve_as_urljoin_does() -> None:
    rng = random.Random(7)
    pieces = ["a", "b1", "/", "/", ".", "..", "?", "#", ":", ";", "=", "%2F", " ", "\\", "é"]
    pieces += ["\t", "@"]
    bases = [
        "http://127.0.0.1:8000/page/3",
        "http://a.test/x/",
        "https://a.test",
        "http://a.test/x/y?q=1",
        "http://a.test/x/y;p",
    ]
    special = ["//b.test/p", "HTTP://B.test", "https://c.test:99/x", "mailto:x@a.test", "?q", ""]
    for _ in range(4000):
        base = rng.choice(bases)
        hrefs = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 6))) for _ in range(5)]
        hrefs.append(rng.choice(special))
        assert absolute_links(base, hrefs) == _reference(base, hrefs), (base, hrefs)


def test_the_site_pages_links_resolve_to_their_targets() -> None:
    site = EmbeddedSite(SMALL)
    base = "http://127.0.0.1:8000"
    for p in [site.root, *site.pages]:
        if not p.anchors:
            continue
        final = f"{base}/page/{p.number}" if p.kind == "moved" else base + p.path
        got = absolute_links(final, [a.href for a in p.anchors])
        want = [a.target if "://" in a.target else base + a.target for a in p.anchors]
        assert got == want


# -- the command line ------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "examples.crawler", *args],
        capture_output=True,
        text=True,
        timeout=90,
        env=ENV,
        cwd=REPO,
    )


def test_cli_follows_the_embedded_sites_links_and_checks_the_counts(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    done = run_cli(
        "--pages", "300", "--latency", "0.001", "--follow", "--depth", "3", "--order", "depth",
        "-o", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    want = EmbeddedSite(SiteConfig(pages=300)).expected_follow(3)
    assert "following links to depth 3" in done.stdout
    assert f"{want.listed:,} URLs in " in done.stdout
    assert f"ok       {want.ok:>7,}  pages: {want.words:,} words" in done.stdout
    skipped = sum(want.skipped.values())
    assert f"skipped  {skipped:>7,}  off-origin: {want.skipped['off-origin']}" in done.stdout
    assert "check: every count matches" in done.stdout
    assert len(out.read_text().splitlines()) == want.listed
    # the progress bar counts what the summary counts
    failed = sum(want.failed.values())
    assert f"{want.ok:,} done" in done.stderr, done.stderr
    assert f"{failed:,} failed" in done.stderr and f"{skipped:,} skipped" in done.stderr


def test_cli_a_bounded_follow_crawl_says_it_cannot_check_exactly() -> None:
    done = run_cli("--pages", "200", "--latency", "0.001", "--follow", "--max-pages", "30")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "30 URLs in " in done.stdout and "check: none" in done.stdout


async def test_a_cached_crawl_that_follows_links_asks_nothing_the_second_time(
    tmp_path: Path,
) -> None:
    """``--follow --cache``: the Frontier runs again, and its block's pages and links come
    from the cache, so the same URLs are found without a request; the totals are exact."""
    from asyncdag.caching._store import forget_stores

    cache = str(tmp_path / "cache")
    async with EmbeddedSite(SMALL) as site:
        want = site.expected_follow()
        found = []
        for _ in range(2):
            before = site.stats.requests
            with anyio.fail_after(60):
                result = await crawl(site.base_url + "/", local(site), follow=True, cache=cache)
            forget_stores()  # the next crawl reads the directory as a new process would
            found.append((result, site.stats.requests - before))
    (cold, asked_cold), (warm, asked_warm) = found
    assert_matches(cold.totals, want)
    assert_matches(warm.totals, want)
    assert asked_cold > want.listed // 2 and asked_warm == 0
