"""The crawler with ``--cache DIR``: killed (SIGKILL) half-way and started again, it fetches
only the pages it had not stored, and its summary and results file equal an uninterrupted
crawl's; a third crawl sends the site no request at all.

The embedded site runs in this process (its URLs carry its port, so it stays up across the
crawls) and counts the requests for each path; the crawls are real subprocesses of the
command line.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("aiohttp")

from asyncdag.caching._fingerprint import data_version  # noqa: E402
from asyncdag.caching._store import forget_stores  # noqa: E402
from examples.crawler.__main__ import options, parse_args  # noqa: E402
from examples.crawler.runner import build_driver  # noqa: E402
from examples.crawler.site import EmbeddedSite, SiteConfig  # noqa: E402

pytestmark = pytest.mark.anyio
REPO = Path(__file__).resolve().parents[1]
PAGES = 600
PAGE_PREFIXES = ("/page/", "/old/", "/gone/", "/broken/", "/loop/", "/away/")


class CountingSite(EmbeddedSite):
    """The embedded site, counting requests per path; ``reached`` is set once ``threshold``
    page requests have been answered."""

    def __init__(self, config: SiteConfig) -> None:
        super().__init__(config)
        self.paths: Counter[str] = Counter()
        self.answered = 0
        self.threshold = 10**9
        self.reached = asyncio.Event()

    async def _handle(self, request: Any) -> Any:
        self.paths[request.path] += 1
        try:
            return await super()._handle(request)
        finally:
            if request.path.startswith(PAGE_PREFIXES):
                self.answered += 1
                if self.answered >= self.threshold:
                    self.reached.set()


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    yield
    forget_stores()


def _args(site: EmbeddedSite, out: Path, cache: Path | None) -> list[str]:
    args = [site.sitemap_url, "--no-polite", "--no-progress", "--concurrency", "32", "-o", str(out)]
    return args + (["--cache", str(cache)] if cache is not None else [])


async def _crawl(args: list[str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "examples.crawler",
        *args,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _finish(proc: asyncio.subprocess.Process) -> str:
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


def _summary(text: str) -> list[str]:
    """The report without its timing line."""
    return [
        line for line in text.splitlines() if " URLs in " not in line and "results:" not in line
    ]


def _stored_urls(site: EmbeddedSite, cache: Path, args: list[str]) -> set[str]:
    """Listed URLs whose page (or failure) the cache holds: the keys it would look up."""
    opts = options(parse_args(args))
    forget_stores()
    dr = build_driver(opts.limits, polite=False, cache=str(cache))
    inputs = {"source": site.sitemap_url, "limits": opts.limits, "output_path": "x"}
    dr.validate_execution(["totals", "results_file"], inputs=inputs)
    limits = data_version(opts.limits)
    meta = dr.cache.metadata_store
    return {
        url
        for url in site.listed_urls()
        if meta.get(dr.cache.make_cache_key("page", {"url": data_version(url), "limits": limits}))
        is not None
    }


async def test_an_interrupted_crawl_resumes_and_a_finished_one_is_not_fetched_again(
    tmp_path: Path,
) -> None:
    config = SiteConfig(pages=PAGES, latency=0.01, slow_latency=0.05)
    async with CountingSite(config) as site:
        with anyio.fail_after(100):
            reference = await _finish(await _crawl(_args(site, tmp_path / "ref.jsonl", None)))
            fetched = set(site.paths)  # what a crawl fetches (robots.txt keeps some out)

            cache = tmp_path / "cache"
            out = tmp_path / "out.jsonl"
            site.paths.clear()
            site.answered, site.threshold = 0, PAGES // 2
            site.reached.clear()
            first = await _crawl(_args(site, out, cache))
            await site.reached.wait()
            first.send_signal(signal.SIGKILL)
            await first.communicate()
            assert first.returncode == -signal.SIGKILL
            first_paths = Counter(site.paths)

            stored = _stored_urls(site, cache, _args(site, out, cache))
            fetchable = [
                u
                for u in site.listed_urls()
                if u.startswith(site.base_url) and u[len(site.base_url) :] in fetched
            ]
            # most of what was answered is stored; what the writer had not committed when the
            # process died is fetched again below, and nothing else
            assert PAGES // 10 < len(stored) < len(fetchable)
            site.paths.clear()
            resumed = await _finish(await _crawl(_args(site, out, cache)))
            second_paths = Counter(site.paths)

            for url in fetchable:
                path = url[len(site.base_url) :]
                if url in stored:
                    assert second_paths[path] == 0, f"{url} was stored, yet fetched again"
                else:
                    assert second_paths[path] >= 1, f"{url} was never fetched"
                    assert first_paths[path] + second_paths[path] >= 1
            assert _summary(resumed) == _summary(reference)
            assert sorted(out.read_text().splitlines()) == sorted(
                (tmp_path / "ref.jsonl").read_text().splitlines()
            )

            site.paths.clear()
            again = await _finish(await _crawl(_args(site, out, cache)))
            assert sum(site.paths.values()) == 0  # the sitemap's items and every page replayed
            assert _summary(again) == _summary(reference)
            assert sorted(out.read_text().splitlines()) == sorted(
                (tmp_path / "ref.jsonl").read_text().splitlines()
            )


def test_the_embedded_site_crawled_again_with_the_same_cache_is_not_asked_again(
    tmp_path: Path,
) -> None:
    # the command's own site: its URLs carry its port, so with --cache it takes the last one
    cache = tmp_path / "cache"
    answered = []
    for run in range(2):
        args = ["--cache", str(cache), "--pages", "40", "--no-progress", "--no-polite"]
        done = subprocess.run(
            [sys.executable, "-m", "examples.crawler", *args, "-o", str(tmp_path / f"{run}.jsonl")],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "every count matches" in done.stdout, done.stdout
        line = next(ln for ln in done.stdout.splitlines() if ln.startswith("the site answered"))
        answered.append(int(line.split()[3].replace(",", "")))
    assert answered[0] >= 40
    assert answered[1] == 0, "the second crawl asked the site again"
    lines = [len((tmp_path / f"{run}.jsonl").read_text().splitlines()) for run in range(2)]
    assert lines[0] == lines[1] > 0
