"""robots.txt: read once per origin under the crawl's bounds, its rules and Crawl-delay
honoured, an unreachable one taken as "fetch nothing" (RFC 9309), never as permission."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import anyio
import pytest
from aiohttp import web

from examples.crawler.client import AiohttpClient
from examples.crawler.pages import ATTEMPTS, USER_AGENT, FetchError, fetch
from examples.crawler.robots import DISALLOWED, UNREACHABLE, Robots, RobotsRules
from examples.crawler.runner import crawl
from examples.crawler.urls import CrawlLimits

pytestmark = pytest.mark.anyio

ROBOTS = """\
User-agent: otherbot
Disallow: /

User-agent: asyncdag-crawler-example
Allow: /private/open
Disallow: /private/
Crawl-delay: 1
"""


def test_rules_follow_the_group_for_our_user_agent() -> None:
    rules = RobotsRules.parse("asyncdag-crawler-example", ROBOTS)
    assert rules.refusal("http://a.test/page") is None
    assert rules.refusal("http://a.test/private/x") == DISALLOWED
    assert rules.refusal("http://a.test/private/open/x") is None
    assert rules.delay == 1.0
    # no group for us and no "*": no rules, nothing checked per URL
    assert (
        RobotsRules.parse("asyncdag-crawler-example", "User-agent: zzbot\nDisallow: /\n").parser
        is None
    )
    assert RobotsRules("x", unreachable=True).refusal("http://a.test/") == UNREACHABLE


class RobotsSite:
    def __init__(self, status: int = 200) -> None:
        self.robots_text = ROBOTS
        self.robots_status = status
        self.robots_requests = 0
        self.page_times: list[float] = []

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.path == "/robots.txt":
            self.robots_requests += 1
            if self.robots_status != 200:
                return web.Response(status=self.robots_status)
            return web.Response(text=self.robots_text, content_type="text/plain")
        if request.path == "/sitemap.xml":
            port = request.url.port
            urls = [f"/page/{i}" for i in range(3)] + ["/private/1", "/private/open/2"]
            locs = "".join(f"<url><loc>http://127.0.0.1:{port}{u}</loc></url>" for u in urls)
            return web.Response(text=f"<urlset>{locs}</urlset>", content_type="application/xml")
        self.page_times.append(time.monotonic())
        return web.Response(text="<p>a page</p>", content_type="text/html")


@asynccontextmanager
async def serve(handler: RobotsSite) -> AsyncIterator[str]:
    runner = web.ServerRunner(web.Server(handler), handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_a_crawl_honours_disallow_and_crawl_delay() -> None:
    site = RobotsSite()
    async with serve(site) as base:
        with anyio.fail_after(30):
            result = await crawl(f"{base}/sitemap.xml", CrawlLimits.for_urls(base))
    assert result.totals.ok == 4 and dict(result.totals.skipped) == {DISALLOWED: 1}
    assert site.robots_requests == 1  # once, however many pages asked at once
    gaps = [b - a for a, b in zip(site.page_times, site.page_times[1:])]
    assert len(gaps) == 3 and min(gaps) >= 0.95  # Crawl-delay: 1, between any two requests


async def test_a_crawl_may_ignore_robots_txt() -> None:
    site = RobotsSite()
    async with serve(site) as base:
        with anyio.fail_after(30):
            result = await crawl(f"{base}/sitemap.xml", CrawlLimits.for_urls(base, robots=False))
    assert result.totals.ok == 5 and site.robots_requests == 0


@pytest.mark.parametrize(
    ("status", "ok", "skipped"), [(404, 5, {}), (403, 5, {}), (503, 0, {UNREACHABLE: 5})]
)
async def test_what_a_robots_txt_error_means(status: int, ok: int, skipped: dict[str, int]) -> None:
    site = RobotsSite(status=status)
    async with serve(site) as base:
        with anyio.fail_after(30):
            result = await crawl(f"{base}/sitemap.xml", CrawlLimits.for_urls(base))
    assert result.totals.ok == ok and dict(result.totals.skipped) == skipped
    # 5xx: tried as often as a page is, then unreachable
    assert site.robots_requests == (ATTEMPTS if status == 503 else 1)


async def test_a_redirect_hop_is_checked_against_robots_txt() -> None:
    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        if request.path == "/robots.txt":
            return web.Response(text="User-agent: *\nDisallow: /private/\n")
        if request.path == "/old":
            raise web.HTTPMovedPermanently("/private/new")
        return web.Response(text="<p>secret</p>", content_type="text/html")

    runner = web.ServerRunner(web.Server(handler), handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as session:
            limits = CrawlLimits.for_urls(base)
            robots = Robots(session, limits, USER_AGENT)
            with anyio.fail_after(10), pytest.raises(FetchError) as caught:
                await fetch(AiohttpClient(session), f"{base}/old", limits, robots)
    finally:
        await runner.cleanup()
    assert caught.value.reason == DISALLOWED and caught.value.skipped


async def test_a_huge_robots_txt_is_read_up_to_the_cap() -> None:
    sent = 0

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        nonlocal sent
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        await response.write(b"User-agent: *\nDisallow: /private/\n")
        while True:  # comments without end
            await response.write(b"# " + b"x" * 4094 + b"\n")
            sent += 4096
            await asyncio.sleep(0)

    runner = web.ServerRunner(web.Server(handler), handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as session:
            robots = Robots(session, CrawlLimits.for_urls(base, robots_max_bytes=64 * 1024))
            with anyio.fail_after(10):
                assert await robots.refusal(f"{base}/private/x") == DISALLOWED
    finally:
        await runner.cleanup()
    assert sent < 16 * 1024 * 1024
