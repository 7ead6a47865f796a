"""The crawl spread out: worker processes (``--workers``) and Ray async actors (``--ray``),
each running its share of the pages at once on its own loop, with its own clients, and
finding exactly what the embedded site holds (sitemap and link-following crawls)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from asyncdag.execution.executors import AsyncioExecutor, MultiProcessingExecutor
from examples.crawler.report import CrawlTotals
from examples.crawler.runner import RayUnavailable, crawl, executor_for, ray_runtime
from examples.crawler.site import EmbeddedSite, Expected, SiteConfig
from examples.crawler.urls import CrawlLimits
from tests.ray_loopback import assert_ray_listens_on_loopback_only

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
SITE = SiteConfig(pages=240, latency=0.002, slow_latency=0.01)


def local(site: EmbeddedSite) -> CrawlLimits:
    return CrawlLimits.for_urls(site.base_url, concurrency=32)


def assert_matches(found: CrawlTotals, want: Expected) -> None:
    assert (found.urls, found.ok, found.words, found.links, found.bytes) == (
        want.listed,
        want.ok,
        want.words,
        want.links,
        want.bytes,
    )
    assert dict(found.failed) == want.failed and dict(found.skipped) == want.skipped
    assert found.top_words() == want.top_words


def test_the_concurrency_is_shared_out_over_the_workers() -> None:
    limits = CrawlLimits.for_urls("http://a.test/", concurrency=33)
    alone = executor_for(limits)
    spread = executor_for(limits, 2)
    try:
        assert isinstance(alone, AsyncioExecutor) and alone.max_tasks == 33
        assert isinstance(spread, MultiProcessingExecutor)
        # 33 pages at once in all, 17 at most in either process
        assert (spread.processes, spread.concurrency, spread.max_tasks) == (2, 17, 33)
    finally:
        alone.close()
        spread.close()


async def test_a_sitemap_crawl_on_worker_processes_finds_exactly_what_the_site_holds() -> None:
    async with EmbeddedSite(SITE) as site:
        limits = local(site)
        executor = executor_for(limits, 2)
        try:
            with anyio.fail_after(90):
                result = await crawl(site.sitemap_url, limits, executor=executor)
        finally:
            executor.close()
        assert_matches(result.totals, site.expected())
        # each process reads robots.txt once, for its own clients: never once a page
        assert 1 <= site.stats.robots <= 2


def test_cli_follows_links_on_worker_processes(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    done = run_cli(
        "--pages", "200", "--latency", "0.001", "--workers", "2", "--follow", "-o", str(out)
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "check: every count matches" in done.stdout
    assert f"results: {out} (" in done.stdout


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "examples.crawler", "--no-progress", *args],
        capture_output=True,
        text=True,
        timeout=110,
        env=ENV,
        cwd=REPO,
    )


# -- Ray -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    pytest.importorskip("ray", reason="the ray extra is not installed")
    with ray_runtime("local", cpus=2):
        yield


async def test_crawls_on_local_ray_find_exactly_what_the_site_holds(local_ray: None) -> None:
    from asyncdag.plugins.ray import RayExecutor

    async with EmbeddedSite(SITE) as site:
        limits = local(site)
        executor = executor_for(limits, ray=True)
        assert isinstance(executor, RayExecutor)
        assert (executor.actors, executor.concurrency, executor.max_tasks) == (2, 16, 32)
        with anyio.fail_after(100):  # the crawl's driver closes the executor it ran on
            listed = await crawl(site.sitemap_url, limits, executor=executor)
            followed = await crawl(
                site.base_url + "/",
                limits,
                follow=True,
                max_depth=4,
                executor=executor_for(limits, ray=True),
            )
        assert_matches(listed.totals, site.expected())
        assert_matches(followed.totals, site.expected_follow(4))


def test_local_ray_listens_on_loopback_only(local_ray: None) -> None:
    assert_ray_listens_on_loopback_only()


async def test_ray_cannot_be_started_twice_in_a_process(local_ray: None) -> None:
    with pytest.raises(RayUnavailable, match="already initialized"), ray_runtime("local"):
        pass


def test_cli_crawls_on_local_ray() -> None:
    pytest.importorskip("ray", reason="the ray extra is not installed")
    done = run_cli("--pages", "150", "--latency", "0.001", "--ray", "local", "--follow")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "check: every count matches" in done.stdout
