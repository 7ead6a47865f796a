"""The crawler example against its embedded site: exact totals, failures with reasons, 429s
waited out for their Retry-After by the retry policy, polite spacing, streaming, bounds, and
the command line's clear errors (exit code 2)."""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import anyio
import pytest
from aiohttp import web

from asyncdag.policies import _limits, _retry
from examples.crawler import pages
from examples.crawler.client import AiohttpClient, PageClient
from examples.crawler.http1 import HttpClient
from examples.crawler.pages import (
    ATTEMPTS,
    MAX_BACKOFF,
    RATE_LIMITED_WAITS,
    FetchError,
    SitemapError,
    fetch,
)
from examples.crawler.report import CrawlTotals
from examples.crawler.runner import crawl
from examples.crawler.site import EmbeddedSite, Expected, SiteConfig
from examples.crawler.urls import CrawlLimits

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
SMALL = SiteConfig(pages=200, latency=0.002, slow_latency=0.02)


def local(site: EmbeddedSite, **bounds: object) -> CrawlLimits:
    """Limits that allow the site's origin (http://127.0.0.1:PORT) and no other."""
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


async def test_the_crawl_finds_exactly_what_the_site_holds(tmp_path: Path) -> None:
    out = tmp_path / "pages.jsonl"
    async with EmbeddedSite(SMALL) as site:
        with anyio.fail_after(30):
            result = await crawl(site.sitemap_url, local(site), output_path=str(out))
        want = site.expected()
        assert site.stats.by_host["localhost"] == 0, "off-origin URLs must not be fetched"
        listed = set(site.listed_urls())
    assert_matches(result.totals, want)
    # every kind of failure is there, by reason
    assert set(want.failed) == {"HTTP 404", "HTTP 500", "too many redirects", "too large"}
    assert want.skipped == {"off-origin": 3, "robots.txt": 2}
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert result.lines == len(lines) == SMALL.pages
    assert {line["url"] for line in lines} == listed
    assert sum(line["ok"] for line in lines) == want.ok
    reasons: dict[str, int] = {}
    for line in lines:
        if not line["ok"]:
            reasons[line["reason"]] = reasons.get(line["reason"], 0) + 1
            assert line["status"] in (None, 302, 404, 500) or line["reason"] == "too large"
    assert site.stats.robots == 1, "robots.txt is read once per origin"
    assert reasons == {**want.failed, **want.skipped}


async def test_429s_are_waited_out_and_every_page_arrives() -> None:
    config = SiteConfig(pages=80, latency=0.002, rate_limit=40, per_mille=())
    async with EmbeddedSite(config) as site:
        with anyio.fail_after(30):
            result = await crawl(site.sitemap_url, local(site))
        assert site.stats.rate_limited > 0, "the crawl should have gone over the rate limit"
        assert_matches(result.totals, site.expected())
    assert result.totals.ok == 80 and not result.totals.failed


async def test_flaky_pages_are_retried() -> None:
    config = SiteConfig(pages=100, latency=0.001, per_mille=(("flaky", 200),))
    async with EmbeddedSite(config) as site:
        with anyio.fail_after(30):
            result = await crawl(site.sitemap_url, local(site))
        assert site.stats.by_status[503] >= 20
        assert_matches(result.totals, site.expected())
    assert result.totals.ok == 100


async def test_follow_external_fetches_the_other_host() -> None:
    async with EmbeddedSite(SMALL) as site:
        with anyio.fail_after(30):
            result = await crawl(site.sitemap_url, local(site, follow_external=True))
        assert site.stats.by_host["localhost"] > 0
        assert_matches(result.totals, site.expected(follow_external=True))
    assert dict(result.totals.skipped) == {"robots.txt": 2}


@pytest.mark.parametrize(
    "bounds",
    [{"max_pages": 25}, {"max_bytes": 1500}, {"max_redirects": 0}],
    ids=lambda b: next(iter(b)),
)
async def test_bounds_hold(bounds: dict[str, int]) -> None:
    async with EmbeddedSite(SMALL) as site:
        with anyio.fail_after(30):
            result = await crawl(site.sitemap_url, local(site, concurrency=16, **bounds))
        assert_matches(result.totals, site.expected(**bounds))
        if "max_pages" in bounds:
            assert result.totals.urls == 25
            # pages, plus sitemap index, child and robots.txt
            assert site.stats.by_status[200] <= 25 + 3


async def test_the_sitemap_is_read_as_a_stream() -> None:
    # the child sitemap pauses between chunks of 50 URLs: the first page is requested long
    # before its last chunk is sent
    config = SiteConfig(pages=200, latency=0.001, sitemap_pause=0.05, per_mille=())
    async with EmbeddedSite(config) as site:
        with anyio.fail_after(30):
            result = await crawl(site.sitemap_url, local(site))
        first, sent = site.stats.first_page_at, site.stats.sitemap_sent_at
    assert result.totals.ok == 200
    assert first is not None and sent is not None and first < sent


async def test_a_file_of_urls(tmp_path: Path) -> None:
    async with EmbeddedSite(SMALL) as site:
        urls = site.listed_urls()[:30]
        path = tmp_path / "urls.txt"
        path.write_text("# some pages\n\n" + "\n".join(urls) + "\n" + urls[0] + "#again\n")
        with anyio.fail_after(30):
            result = await crawl(str(path), local(site))
        assert_matches(result.totals, site.expected(max_pages=30))


async def test_polite_crawls_space_the_requests_to_a_host_evenly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the rate limiter on a clock that stands still, far past any earlier test's turns: each
    # request's turn is then the pause it takes, recorded instead of slept
    turns: list[float] = []

    async def asleep(delay: float) -> None:
        turns.append(delay)
        await asyncio.sleep(0)

    now = time.monotonic() + 1e6
    monkeypatch.setattr(_limits, "_monotonic", lambda: now)
    monkeypatch.setattr(_limits, "_asleep", asleep)
    config = SiteConfig(pages=12, latency=0.001, per_mille=(("flaky", 250),))
    async with EmbeddedSite(config) as site:
        limits = local(site, max_pages=12, concurrency=16)
        with anyio.fail_after(30):
            result = await crawl(site.sitemap_url, limits, polite=True)
        attempts = sum(n for path, n in site.stats.by_path.items() if path.startswith("/page/"))
    assert result.totals.ok == 12
    assert attempts == 12 + sum(p.fails for p in site.pages)  # flaky pages: retried
    # 10 requests a second to the host, evenly spaced, every attempt included: the first at
    # once, then one every 0.1 s (never ten at once)
    assert sorted(turns) == pytest.approx([k / 10 for k in range(1, attempts)])


class RateLimitingSite:
    """``/soon`` answers 429 (Retry-After 7 s) once, ``/dated`` 429 with an HTTP date 30 s
    ahead once, ``/always`` 429 (7 s) every time, ``/later`` 429 asking for two minutes."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        self.requests[path] += 1
        if path == "/robots.txt":
            return web.Response(status=404)
        if path == "/sitemap.xml":
            base = f"http://127.0.0.1:{request.url.port}"
            locs = "".join(
                f"<url><loc>{base}/{name}</loc></url>"
                for name in ("soon", "dated", "always", "later")
            )
            return web.Response(text=f"<urlset>{locs}</urlset>", content_type="application/xml")
        wait = {"/soon": "7", "/always": "7", "/later": "120"}.get(path)
        if path == "/dated":
            wait = email.utils.formatdate(time.time() + 30, usegmt=True)
        if path == "/always" or path == "/later" or self.requests[path] == 1:
            return web.Response(status=429, headers={"Retry-After": str(wait)})
        return web.Response(text="<p>at last</p>", content_type="text/html")


@asynccontextmanager
async def serve(handler: RateLimitingSite) -> AsyncIterator[str]:
    runner = web.ServerRunner(web.Server(handler), handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("kind", ["httptools", "aiohttp"])
async def test_a_429_is_a_retryable_fetch_error_carrying_retry_after(kind: str) -> None:
    server = RateLimitingSite()
    async with serve(server) as base, aiohttp.ClientSession() as session:
        limits = CrawlLimits.for_urls(base)
        client: PageClient = (
            AiohttpClient(session) if kind == "aiohttp" else HttpClient(user_agent="t/1", timeout=5)
        )
        with anyio.fail_after(10), pytest.raises(FetchError) as soon:
            await fetch(client, f"{base}/soon", limits)
        with anyio.fail_after(10), pytest.raises(FetchError) as dated:
            await fetch(client, f"{base}/dated", limits)
        if isinstance(client, HttpClient):
            await client.aclose()
    error = soon.value
    assert (error.reason, error.status, error.retryable, error.retry_after) == (
        "HTTP 429",
        429,
        True,
        7.0,
    )
    assert dated.value.retry_after == pytest.approx(30, abs=5)  # an HTTP date, in seconds
    assert server.requests["/soon"] == 1  # fetch makes one attempt: retrying is the policy's


async def test_the_page_retry_policy_waits_for_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []

    async def asleep(delay: float) -> None:
        pauses.append(delay)
        await asyncio.sleep(0)

    monkeypatch.setattr(_retry, "_asleep", asleep)
    monkeypatch.setattr(pages, "_sleep", asleep)
    server = RateLimitingSite()
    async with serve(server) as base:
        with anyio.fail_after(30):
            result = await crawl(f"{base}/sitemap.xml", CrawlLimits.for_urls(base))
    totals = result.totals
    assert totals.ok == 2 and dict(totals.failed) == {"HTTP 429": 2}
    # /soon and /dated: one pause each, what the server asked; /always: RATE_LIMITED_WAITS
    # pauses, then the 429 is final (the retry policy's ATTEMPTS are for failing pages);
    # /later asks for more than MAX_BACKOFF: it fails at once, not retried sooner
    assert server.requests["/soon"] == server.requests["/dated"] == 2
    assert server.requests["/always"] == RATE_LIMITED_WAITS + 1 != ATTEMPTS
    assert server.requests["/later"] == 1
    assert 120 > MAX_BACKOFF
    dated = [p for p in pauses if p != 7.0]
    assert len(dated) == 1 and dated[0] == pytest.approx(30, abs=5)
    assert pauses.count(7.0) == 1 + RATE_LIMITED_WAITS


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/malformed.xml", "malformed sitemap http://127.0.0.1:"),
        ("/page/0", "not a sitemap: http://127.0.0.1:"),
        ("/nothing.xml", "HTTP 404"),
    ],
)
async def test_a_bad_sitemap_is_one_clear_error(path: str, message: str) -> None:
    async with EmbeddedSite(SiteConfig(pages=10, latency=0.001, per_mille=())) as site:
        with anyio.fail_after(30), pytest.raises(SitemapError, match=message) as caught:
            await crawl(site.base_url + path, local(site))
    assert "\n" not in str(caught.value)


# -- the command line, in a subprocess ---------------------------------------------------


@pytest.fixture(scope="module")
def site_process() -> Iterator[str]:
    """The embedded site served by ``python -m examples.crawler.site``: its base URL."""
    child = subprocess.Popen(
        [sys.executable, "-m", "examples.crawler.site", "--pages=200", "--latency=0.002"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
        cwd=REPO,
    )
    assert child.stdout is not None and child.stdin is not None
    try:
        yield child.stdout.readline().strip().removesuffix("/sitemap.xml")
    finally:
        child.stdin.close()
        child.wait(timeout=10)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "examples.crawler", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=ENV,
        cwd=REPO,
    )


def test_cli_crawls_a_sitemap_url(site_process: str, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    done = run_cli(f"{site_process}/sitemap.xml", "--no-polite", "-o", str(out))
    assert done.returncode == 0, done.stderr
    want = EmbeddedSite(SiteConfig(pages=200, latency=0.002)).expected()
    assert f"ok       {want.ok:>7,}  pages: {want.words:,} words" in done.stdout
    assert "HTTP 404: " in done.stdout and "top words: stream " in done.stdout
    assert "pages/s" in done.stdout
    assert len(out.read_text().splitlines()) == 200
    # not a terminal: the progress bar is one plain line at the end
    assert "pages: " in done.stderr and "\r" not in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{site}/malformed.xml"], "error: malformed sitemap http://127.0.0.1:"),
        (["htp://example.com/sitemap.xml"], "error: bad sitemap URL: not an http(s) URL"),
        (["http://"], "error: bad sitemap URL: no host in URL"),
        (["no/such/file.txt"], "error: no such file: no/such/file.txt"),
        (["--concurrency", "0"], "error: --concurrency must be at least 1"),
    ],
    ids=["malformed-sitemap", "bad-scheme", "no-host", "no-file", "bad-option"],
)
def test_cli_errors_are_one_line_and_exit_2(
    site_process: str, args: list[str], message: str
) -> None:
    done = run_cli(*(a.format(site=site_process) for a in args), "--no-progress")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(message), done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_cli_malformed_sitemap_file(tmp_path: Path) -> None:
    bad = tmp_path / "sitemap.xml"
    bad.write_text("<?xml version='1.0'?><urlset><url><loc>http://127.0.0.1/x</loc></urll>")
    done = run_cli(str(bad), "--no-progress")
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: malformed sitemap {bad}: mismatched tag: line 1")


def test_the_benchmark_runs_at_a_tiny_size() -> None:
    from benchmarks import crawl as bench_crawl

    rows = bench_crawl.bench(pages=40, latency=0.001, concurrency=8, repeats=1)
    follow = bench_crawl.bench_follow(pages=40, latency=0.001, concurrency=8, repeats=1)
    assert [r.system for r in follow] == [
        bench_crawl.FOLLOW,
        bench_crawl.FOLLOW_BREADTH,
        bench_crawl.SCRAPY,
        bench_crawl.SCRAPY_DEEP,
    ]
    assert all(r.value > 0 for r in follow)
    assert {bench_crawl.SCRAPY, bench_crawl.SCRAPY_DEEP} <= set(follow[0].ratios)
    systems = {bench_crawl.HAND, bench_crawl.ASYNC, bench_crawl.BAR, bench_crawl.WORKERS}
    systems |= {bench_crawl.WIDE, bench_crawl.WORKERS_WIDE}
    bounds = {f"{bench_crawl.CEILING} @{n}" for n in (8, 16)}
    assert {r.system for r in rows} == systems | bounds | {"ideal"}
    assert {r.system for r in rows if r.unit == "us/page"} == systems
    assert {r.system for r in rows if r.unit == "s"} == systems  # each one's first crawl
    assert all(r.value > 0 for r in rows)
    verdicts = bench_crawl.targets(rows + follow)
    # two against the hand-written crawler, the single loop's pages/s and CPU against the
    # figures from before, --workers 2 and 2 processes at the full concurrency, and asyncdag
    # --follow against Scrapy (Ray: bench's ray_cpus, off here)
    assert len(verdicts) == 7
    assert all(v.startswith(("MET", "MISSED")) for v in verdicts)


def test_the_workers_benchmark_runs_at_a_tiny_size() -> None:
    from benchmarks import crawl_workers

    lines = crawl_workers.measure(pages=40, rounds=1, concurrencies=[8])
    assert len(lines) == 3 and "@8 one loop" in lines[1] and "@8 2 processes" in lines[2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--depth", "2"], "error: --depth bounds --follow: give --follow too"),
        (["--follow", "--depth", "-1"], "error: --depth must not be negative"),
        (["--order", "depth"], "error: --order is the order of --follow: give --follow too"),
        (["--workers", "0"], "error: --workers must be at least 1"),
        (["--workers", "2", "--ray", "local"], "error: --workers and --ray"),
        (["--ray", "nowhere"], "error: --ray: 'nowhere' is not HOST:PORT"),
        (["--follow", "http://"], "error: bad start URL: no host in URL"),
        (["--follow", "http:///sitemap.xml"], "error: bad sitemap URL: no host in URL"),
        (["--workers", "2", "--polite"], "error: --workers and --ray fetch from several"),
        (["--ray", "local", "http://a.test/s.xml"], "error: --workers and --ray fetch from"),
        (["--ray", "127.0.0.1:1"], "error: cannot reach Ray at 127.0.0.1:1"),
        (["--allow-host", "a.test/x"], "error: --allow-host: not a host name"),
        (["--sitemap-timeout", "0"], "error: --sitemap-timeout must be positive"),
        (["--max-loc", "0"], "error: --max-loc must be at least 1"),
    ],
)
def test_cli_checks_the_options_of_bigger_crawls(args: list[str], message: str) -> None:
    done = run_cli(*args, "--no-progress")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(message), done.stderr
    assert done.stderr.count("\n") == 1


def test_cli_crawls_on_worker_processes(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    done = run_cli("--pages", "120", "--latency", "0.001", "--workers", "2", "-o", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "check: every count matches" in done.stdout
    assert len(out.read_text().splitlines()) == 120
