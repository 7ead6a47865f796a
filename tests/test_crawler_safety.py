"""The crawler against hostile servers on 127.0.0.1: every request (sitemap, child sitemap,
robots.txt, page, each redirect hop) keeps to the allowed origins, sitemaps are bounded in
bytes, time and ``<loc>`` length, and a crawl that is stopped keeps what it fetched."""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import signal
import sys
import tracemalloc
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import anyio
import pytest
from aiohttp import web

from examples.crawler.client import AiohttpClient, PageClient
from examples.crawler.http1 import HttpClient
from examples.crawler.pages import FetchError, SitemapError, fetch
from examples.crawler.runner import crawl
from examples.crawler.sitemaps import SitemapBudget, sitemap_urls
from examples.crawler.urls import CrawlLimits, normalize_url, origin_of, origins_for_host

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[1]
Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


class Server:
    """A server on 127.0.0.1 that counts what it is asked (path -> requests)."""

    def __init__(self) -> None:
        self.port = 0
        self.requests: Counter[str] = Counter()
        self.sent = 0  # bytes of streamed bodies handed to the transport

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


def urlset(*urls: str) -> str:
    locs = "".join(f"<url><loc>{u}</loc></url>" for u in urls)
    return f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{locs}</urlset>'


def xml(text: str) -> web.Response:
    return web.Response(text=text, content_type="application/xml")


def html(text: str = "<p>hello there</p>") -> web.Response:
    return web.Response(text=f"<html><body>{text}</body></html>", content_type="text/html")


async def a_page(request: web.BaseRequest) -> web.StreamResponse:
    return html()


async def read_all(stream: anyio.abc.ByteReceiveStream | None) -> str:
    assert stream is not None
    chunks = []
    async for chunk in stream:
        chunks.append(chunk)
    return b"".join(chunks).decode()


# -- origins ---------------------------------------------------------------------------


def test_origins_compare_scheme_host_and_port() -> None:
    limits = CrawlLimits.for_urls("http://127.0.0.1:8080/sitemap.xml")
    assert limits.allows("http://127.0.0.1:8080/a")
    assert not limits.allows("http://127.0.0.1:8081/a")  # another port of the host
    assert not limits.allows("https://127.0.0.1:8080/a")  # another scheme
    assert not limits.allows("http://localhost:8080/a")  # another host name
    assert not limits.allows("ftp://127.0.0.1:8080/a")
    # an http site on port 80 may move to https on 443, and nowhere else
    web_site = CrawlLimits.for_urls("http://example.com/sitemap.xml")
    assert web_site.allows("https://example.com/x") and web_site.allows("http://EXAMPLE.com:80/")
    assert not web_site.allows("https://example.com:8443/x")
    assert origins_for_host("example.com:8080") == {
        ("http", "example.com", 8080),
        ("https", "example.com", 8080),
    }
    assert origins_for_host("https://a.test") == {("https", "a.test", 443)}
    with pytest.raises(ValueError, match="not a host name"):
        origins_for_host("a.test/path")
    assert origin_of("http://[::1]:81/") == ("http", "::1", 81)
    assert normalize_url("HTTP://A.test:80/x#y") == "http://a.test/x"
    assert normalize_url("http://a.test") == "http://a.test/"
    assert normalize_url("http://a.test:8080/p?q=1") == "http://a.test:8080/p?q=1"


def test_fetch_error_pickles_with_every_field() -> None:
    error = FetchError("http://a.test/", "HTTP 503", status=503, retryable=True, retry_after=2.0)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.url, copy.reason, copy.status, copy.retryable, copy.retry_after, copy.skipped) == (
        "http://a.test/",
        "HTTP 503",
        503,
        True,
        2.0,
        False,
    )
    assert str(copy) == str(error)


@pytest.mark.parametrize("kind", ["httptools", "aiohttp"])
@pytest.mark.parametrize("where", ["another-host", "another-port"])
async def test_a_page_redirected_off_origin_is_skipped_unfetched(where: str, kind: str) -> None:
    async with serve(a_page) as other:
        target = (
            f"http://localhost:{other.port}/secret"
            if where == "another-host"
            else f"{other.base}/secret"
        )

        async def redirecting(request: web.BaseRequest) -> web.StreamResponse:
            if request.path == "/robots.txt":
                return web.Response(status=404)
            raise web.HTTPFound(target)

        async with serve(redirecting) as allowed, aiohttp.ClientSession() as session:
            limits = CrawlLimits.for_urls(allowed.base)
            client: PageClient = (
                AiohttpClient(session)
                if kind == "aiohttp"
                else HttpClient(user_agent="t/1", timeout=5)
            )
            with anyio.fail_after(10), pytest.raises(FetchError) as caught:
                await fetch(client, f"{allowed.base}/page", limits)
            if isinstance(client, HttpClient):
                await client.aclose()
        assert caught.value.reason == "off-origin" and caught.value.skipped
        assert caught.value.status == 302
        assert other.requests["/secret"] == 0


@pytest.mark.parametrize("where", ["another-host", "another-port"])
async def test_a_sitemap_redirected_off_origin_is_refused(where: str) -> None:
    async def anything(request: web.BaseRequest) -> web.StreamResponse:
        return xml(urlset("http://127.0.0.1:1/a"))

    async with serve(anything) as other:
        target = (
            f"http://localhost:{other.port}/sitemap.xml"
            if where == "another-host"
            else f"{other.base}/sitemap.xml"
        )

        async def redirecting(request: web.BaseRequest) -> web.StreamResponse:
            raise web.HTTPMovedPermanently(target)

        async with serve(redirecting) as allowed:
            limits = CrawlLimits.for_urls(allowed.base)
            with anyio.fail_after(10), pytest.raises(SitemapError) as caught:
                await crawl(f"{allowed.base}/sitemap.xml", limits)
        assert "is not on an allowed origin" in str(caught.value)
        assert "\n" not in str(caught.value)
        assert sum(other.requests.values()) == 0


async def test_child_sitemaps_and_robots_txt_keep_to_the_origins() -> None:
    async def elsewhere(request: web.BaseRequest) -> web.StreamResponse:
        return xml(urlset("http://127.0.0.1:1/a"))

    async with serve(elsewhere) as other:

        async def site(request: web.BaseRequest) -> web.StreamResponse:
            if request.path == "/sitemap.xml":
                return xml(
                    '<?xml version="1.0"?><sitemapindex'
                    ' xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                    f"<sitemap><loc>{other.base}/child.xml</loc></sitemap>"
                    "<sitemap><loc>/mine.xml</loc></sitemap></sitemapindex>"
                )
            if request.path == "/mine.xml":
                return xml(urlset(f"http://127.0.0.1:{request.url.port}/page"))
            if request.path == "/robots.txt":  # robots.txt redirected to another port
                raise web.HTTPFound(f"{other.base}/robots.txt")
            return html()

        async with serve(site) as allowed:
            with anyio.fail_after(10):
                result = await crawl(
                    f"{allowed.base}/sitemap.xml", CrawlLimits.for_urls(allowed.base)
                )
    assert sum(other.requests.values()) == 0
    # robots.txt behind a redirect the crawl may not follow: nothing is fetched on that origin
    assert dict(result.totals.skipped) == {"robots.txt unreachable": 1}
    assert allowed.requests["/page"] == 0


# -- sitemap bounds ----------------------------------------------------------------------


async def endless(request: web.BaseRequest) -> web.StreamResponse:
    """A sitemap that never ends: URL after URL, as fast as the client reads."""
    response = web.StreamResponse(headers={"Content-Type": "application/xml"})
    await response.prepare(request)
    await response.write(b'<?xml version="1.0"?><urlset>')
    i = 0
    while True:
        await response.write(
            "".join(
                f"<url><loc>http://127.0.0.1:1/{i + k}</loc></url>" for k in range(100)
            ).encode()
        )
        i += 100


async def test_an_endless_sitemap_stops_at_the_byte_cap() -> None:
    async with serve(endless) as server, aiohttp.ClientSession() as session:
        limits = CrawlLimits.for_urls(server.base, sitemap_max_bytes=200_000)
        budget = SitemapBudget(limits)
        found = 0
        with anyio.fail_after(20), pytest.raises(SitemapError, match="larger than 200,000 bytes"):
            async for _ in sitemap_urls(
                session, f"{server.base}/sitemap.xml", limits, budget=budget
            ):
                found += 1
    assert budget.bytes_read <= 200_000 + 256 * 1024  # the cap, plus the chunk that crossed it
    assert found > 1000


async def test_an_endless_sitemap_is_one_line_and_exit_2_on_the_command_line() -> None:
    async with serve(endless) as server:
        done = await anyio.run_process(
            [
                sys.executable,
                "-m",
                "examples.crawler",
                f"{server.base}/sitemap.xml",
                "--no-progress",
                "--no-polite",
                "--sitemap-max-bytes",
                "100000",
            ],
            check=False,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            cwd=REPO,
        )
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert err.startswith("error: sitemap http://127.0.0.1:") and "--sitemap-max-bytes" in err
    assert err.count("\n") == 1


async def test_a_slowloris_sitemap_runs_out_of_time() -> None:
    async def slowloris(request: web.BaseRequest) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/xml"})
        await response.prepare(request)
        await response.write(
            b'<?xml version="1.0"?><urlset><url><loc>http://127.0.0.1:1/a</loc></url>'
        )
        while True:  # one byte at a time: no read ever times out, the sitemap never ends
            await response.write(b" ")
            await asyncio.sleep(0.05)

    async with serve(slowloris) as server:
        limits = CrawlLimits.for_urls(server.base, sitemap_timeout=0.5)
        with anyio.fail_after(20), pytest.raises(SitemapError) as caught:
            await crawl(f"{server.base}/sitemap.xml", limits)
    assert "not read within 0.5 s" in str(caught.value) and "--sitemap-timeout" in str(caught.value)


async def test_a_100_mb_loc_is_never_held_in_memory() -> None:
    size = 100 * 1024 * 1024
    chunk = b"a" * (64 * 1024)

    async def huge_loc(request: web.BaseRequest) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/xml"})
        await response.prepare(request)
        await response.write(b'<?xml version="1.0"?><urlset><url><loc>http://127.0.0.1:1/')
        sent = 0
        while sent < size:
            await response.write(chunk)
            sent += len(chunk)
            server.sent = sent
        await response.write(b"</loc></url></urlset>")
        return response

    async with serve(huge_loc) as server, aiohttp.ClientSession() as session:
        limits = CrawlLimits.for_urls(server.base, max_loc=8192)
        budget = SitemapBudget(limits)
        tracemalloc.start()
        try:
            with anyio.fail_after(20), pytest.raises(SitemapError, match="longer than 8,192"):
                async for _ in sitemap_urls(session, f"{server.base}/s.xml", limits, budget=budget):
                    pass
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # the reader stopped within a few network chunks of the bound, and held about that much
    assert budget.bytes_read < 1024 * 1024
    assert peak < 8 * 1024 * 1024, peak
    assert server.sent < 32 * 1024 * 1024  # the server was cut off long before 100 MB


async def test_a_loc_in_a_sitemap_file_is_bounded_too(tmp_path: Path) -> None:
    path = tmp_path / "sitemap.xml"
    path.write_text(urlset("http://127.0.0.1:1/" + "a" * 20_000))
    limits = CrawlLimits.for_urls("http://127.0.0.1:1/", max_loc=1000)
    with anyio.fail_after(10), pytest.raises(SitemapError, match="longer than 1,000"):
        await crawl(str(path), limits)


# -- stopping a crawl ---------------------------------------------------------------------

N_DONE = 40
CONCURRENCY = 8


class StallingSite:
    """Answers the first ``N_DONE`` pages at once and holds every later request until the
    test ends: when it has received ``N_DONE + CONCURRENCY`` page requests, each of the
    first ``N_DONE`` has finished in the crawler (a page's slot is taken by the next URL only
    once the page is done). ``release_child`` then lets a second child sitemap through."""

    def __init__(self, *, failing_child: bool) -> None:
        self.failing_child = failing_child
        self.answered: list[str] = []
        self.page_requests = 0
        self.all_in = asyncio.Event()
        self.hold = asyncio.Event()

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        base = f"http://127.0.0.1:{request.url.port}"
        if path == "/robots.txt":
            return web.Response(status=404)
        if path == "/sitemap.xml":
            return xml(
                '<?xml version="1.0"?><sitemapindex>'
                "<sitemap><loc>/0.xml</loc></sitemap><sitemap><loc>/1.xml</loc></sitemap>"
                "</sitemapindex>"
            )
        if path == "/0.xml":
            return xml(urlset(*(f"{base}/page/{i}" for i in range(N_DONE + CONCURRENCY))))
        if path == "/1.xml":
            await self.all_in.wait()
            if self.failing_child:
                return xml("<urlset><url><loc>cut sh")  # malformed: the expander fails
            await self.hold.wait()
            return xml(urlset())
        self.page_requests += 1
        if self.page_requests > N_DONE:
            if self.page_requests == N_DONE + CONCURRENCY:
                self.all_in.set()
            await self.hold.wait()  # until the test ends: never answered to the crawl
            return web.Response(status=503)
        self.answered.append(f"{base}{path}")
        return html()


async def _crawl_process(base: str, out: Path) -> anyio.abc.Process:
    return await anyio.open_process(
        [
            sys.executable,
            "-m",
            "examples.crawler",
            f"{base}/sitemap.xml",
            "--no-progress",
            "--no-polite",
            "--concurrency",
            str(CONCURRENCY),
            "-o",
            str(out),
        ],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
    )


def _lines(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.read_text().splitlines()]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_a_stopped_crawl_keeps_a_line_for_every_page_it_finished(
    signum: int, tmp_path: Path
) -> None:
    stalling = StallingSite(failing_child=False)
    out = tmp_path / "out.jsonl"
    async with serve(stalling) as server:
        process = await _crawl_process(server.base, out)
        try:
            with anyio.fail_after(60):
                await stalling.all_in.wait()
                process.send_signal(signum)
                code = await process.wait()
        finally:
            stalling.hold.set()
            if process.returncode is None:
                process.kill()
                await process.wait()
        err = await read_all(process.stderr)
    assert code == 128 + signum, err
    assert f"interrupted by {signal.Signals(signum).name}" in err and "Traceback" not in err
    lines = _lines(out)
    assert sorted(str(line["url"]) for line in lines) == sorted(stalling.answered)
    assert len(lines) == N_DONE and all(line["ok"] for line in lines)


async def test_a_failing_node_keeps_a_line_for_every_page_it_finished(tmp_path: Path) -> None:
    stalling = StallingSite(failing_child=True)
    out = tmp_path / "out.jsonl"
    async with serve(stalling) as server:
        process = await _crawl_process(server.base, out)
        try:
            with anyio.fail_after(60):
                code = await process.wait()
        finally:
            stalling.hold.set()
        err = await read_all(process.stderr)
    assert code == 2, err
    assert err.startswith("error: malformed sitemap") and err.count("\n") == 1
    lines = _lines(out)
    assert sorted(str(line["url"]) for line in lines) == sorted(stalling.answered)
    assert len(lines) == N_DONE
