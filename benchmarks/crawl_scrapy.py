"""CRAWL-FOLLOW, Scrapy's side: a ``CrawlSpider`` following links through the embedded site.

``python -m benchmarks.crawl_scrapy ROOT_URL --depth N --concurrency C`` crawls from the
site's root page and prints one JSON line: the totals (counted as the asyncdag crawler
counts them, with the same ``parse_page``), wall seconds and CPU seconds of this process.
``benchmarks/crawl.py`` runs it in a subprocess next to the site and checks the totals
against ``EmbeddedSite.expected_follow``.

Tuned as Scrapy's "Broad Crawls" page advises: high global and per-domain concurrency (the
same as the asyncdag crawl's), cookies off, INFO logging, breadth-first order
(``DEPTH_PRIORITY = 1`` with FIFO queues), a short download timeout. ``--order depth`` takes
the deepest request first instead (``DEPTH_PRIORITY = -1``, FIFO among equals), the order of
the asyncdag crawl's ``--order depth``. Kept for parity with
the asyncdag crawler (so both fetch the same pages): retries (3, i.e. 4 attempts), redirects
(at most 5), robots.txt obeyed, 1 MiB page bound, and one URL taken up once by its normalised
form (our ``process_links``; requests then carry ``dont_filter`` so that Scrapy's own filter
does not drop a redirect to itself, which must end as "too many redirects"). An origin check
(scheme, host, port) on every request, redirect hops included, stands for the crawler's
allow-list.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from typing import Any

from scrapy import Request, signals
from scrapy.crawler import CrawlerProcess
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.linkextractors import LinkExtractor
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.spiders import CrawlSpider, Rule

from examples.crawler.pages import Fetched
from examples.crawler.parsing import parse_page
from examples.crawler.urls import CrawlLimits, normalize_url

USER_AGENT = "asyncdag-crawler-example/0.1 (+https://github.com/asyncdag)"


class Totals:
    def __init__(self) -> None:
        self.listed = 0
        self.ok = 0
        self.failed: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.words: Counter[str] = Counter()
        self.links = 0
        self.bytes = 0


class OriginCheck:
    """A downloader middleware: requests off the allowed origins are ignored, counted."""

    def __init__(self, limits: CrawlLimits) -> None:
        self.limits = limits

    @classmethod
    def from_crawler(cls, crawler: Any) -> OriginCheck:
        return cls(CrawlLimits.for_urls(crawler.settings.get("CRAWL_ROOT")))

    def process_request(self, request: Request, spider: Any = None) -> None:
        if not self.limits.allows(request.url):
            raise IgnoreRequest("off-origin")


class SiteSpider(CrawlSpider):  # type: ignore[misc]
    name = "embedded-site"

    def __init__(self, root: str, depth: int | None, totals: Totals, **kwargs: Any) -> None:
        self.start_urls = [root]
        self.limits = CrawlLimits.for_urls(root)
        self.depth_bound = depth
        self.totals = totals
        self.seen = {normalize_url(root)}
        totals.listed = 1
        self.rules = (
            Rule(
                LinkExtractor(),
                callback="parse_item",
                errback="failed",
                follow=True,
                process_links="take_up",
                process_request="unfiltered",
            ),
        )
        super().__init__(**kwargs)

    async def start(self) -> Any:
        for url in self.start_urls:
            yield Request(url, callback=self._parse, errback=self.failed, dont_filter=True)

    def take_up(self, links: list[Any]) -> list[Any]:
        # Rule calls this with the response's links; the depth is the response's + 1
        response = self._current
        depth = response.meta.get("depth", 0) + 1
        if self.depth_bound is not None and depth > self.depth_bound:
            return []
        kept = []
        for link in links:
            key = normalize_url(link.url)
            if key in self.seen:
                continue
            self.seen.add(key)
            self.totals.listed += 1
            if not self.limits.allows(link.url):
                self.totals.skipped["off-origin"] += 1
                continue
            kept.append(link)
        return kept

    def unfiltered(self, request: Request, response: Response) -> Request:
        return request.replace(dont_filter=True)

    def _requests_to_follow(self, response: Response) -> Any:
        # process_links is not told which page the links are on: keep it for take_up
        self._current = response
        return super()._requests_to_follow(response)

    def parse_item(self, response: Response) -> None:
        self.count_page(response)

    def parse_start_url(self, response: Response, **kwargs: Any) -> list[Any]:
        self.count_page(response)
        return []

    def count_page(self, response: Response) -> None:
        content_type = response.headers.get(b"Content-Type", b"").decode().split(";")[0]
        fetched = Fetched(
            response.request.url if response.request else response.url,
            response.url,
            response.status,
            content_type.strip(),
            "utf-8",
            response.body,
        )
        stats = parse_page(fetched)
        t = self.totals
        t.ok += 1
        t.words.update(stats.found)
        t.links += stats.links
        t.bytes += stats.bytes

    def failed(self, failure: Any) -> None:
        t = self.totals
        if failure.check(HttpError):
            t.failed[f"HTTP {failure.value.response.status}"] += 1
        elif failure.check(IgnoreRequest):
            message = str(failure.value)
            if "robots.txt" in message or "Forbidden by robots" in message:
                t.skipped["robots.txt"] += 1
            elif "off-origin" in message:
                t.skipped["off-origin"] += 1
            elif "redirect" in message:
                t.failed["too many redirects"] += 1
            else:
                t.failed[f"ignored ({message})"] += 1
        else:
            message = f"{failure.type.__name__}: {failure.value}"
            t.failed["too large" if "size" in message.lower() else message] += 1


def run(root: str, depth: int | None, concurrency: int, order: str = "breadth") -> dict[str, Any]:
    totals = Totals()
    settings = {
        "CRAWL_ROOT": root,
        "USER_AGENT": USER_AGENT,
        "ROBOTSTXT_OBEY": True,
        "CONCURRENT_REQUESTS": concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
        "CONCURRENT_ITEMS": concurrency,
        "DOWNLOAD_DELAY": 0,
        "AUTOTHROTTLE_ENABLED": False,
        "COOKIES_ENABLED": False,
        "LOG_LEVEL": "CRITICAL",
        "TELNETCONSOLE_ENABLED": False,
        "RETRY_ENABLED": True,
        "RETRY_TIMES": 3,
        "RETRY_HTTP_CODES": [500, 502, 503, 504, 429],
        "REDIRECT_MAX_TIMES": 5,
        "DOWNLOAD_TIMEOUT": 10,
        "DOWNLOAD_MAXSIZE": 1024 * 1024,
        "DOWNLOAD_WARNSIZE": 0,
        "DEPTH_LIMIT": 0,  # the spider bounds depth where it takes links up
        "DEPTH_PRIORITY": 1 if order == "breadth" else -1,
        "SCHEDULER_DISK_QUEUE": "scrapy.squeues.PickleFifoDiskQueue",
        "SCHEDULER_MEMORY_QUEUE": "scrapy.squeues.FifoMemoryQueue",
        "DOWNLOADER_MIDDLEWARES": {"benchmarks.crawl_scrapy.OriginCheck": 50},
    }
    process = CrawlerProcess(settings)
    started = time.perf_counter()
    cpu = time.process_time()
    crawler = process.create_crawler(SiteSpider)
    crawler.signals.connect(lambda: None, signal=signals.spider_closed)
    process.crawl(crawler, root=root, depth=depth, totals=totals)
    process.start()
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu
    return {
        "listed": totals.listed,
        "ok": totals.ok,
        "failed": dict(totals.failed),
        "skipped": dict(totals.skipped),
        "words": sum(totals.words.values()),
        "links": totals.links,
        "bytes": totals.bytes,
        "wall": wall,
        "cpu": cpu,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.crawl_scrapy")
    parser.add_argument("root")
    parser.add_argument("--depth", type=int)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--order", choices=("breadth", "depth"), default="breadth")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.root, args.depth, args.concurrency, args.order)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
