"""The crawl as a dataflow: every public function here is a node, wired by parameter names.

::

    source, limits ─► clients (per worker, once per event loop: an aiohttp session for
                  │                   sitemaps and robots.txt, the pages' client, robots.txt)
                  └─► url ═══ Parallelizable: URLs streamed out of the sitemap(s) ═══╗
                       ▲    (config follow=True: a Frontier, fed by links)          ║ per URL
                       ║    page  (fetch: robots.txt, redirects, size bound, retried) ◄──╝
                       ║      └─► page_stats (parse: words, links)
                       ╚═══════════ ├─► links (follow=True: Discovered, the page's URLs)
                                    ├─► totals        (CollectAsCompleted: counts, top words)
                                    └─► results_file  (CollectAsCompleted: one line a page)

Following links (config ``follow=True``): ``url`` returns a ``Frontier`` of the seeds (the
start page, or the URLs of a sitemap or URL file) and ``links``, annotated ``Discovered``,
hands back the URLs each page links to. The expansion takes each new URL up once (by
:func:`~.urls.normalize_url`), one link deeper than the page that found it, while it is
within ``max_depth`` and ``limits.max_pages``, and ends when no page is in flight and no
URL waits. A discovered URL goes through the same ``page`` node as a seed: off the allowed
origins it is skipped unfetched ("off-origin"), robots.txt is asked before it is fetched,
and every redirect hop is checked again. A link beyond ``max_depth`` is not a URL of the
crawl (it is neither fetched nor counted).

Failure policy: ``page`` and ``page_stats`` are ``on_error("deliver")``. A page that fails
(404, 500 after retries, too large, off-origin, refused by robots.txt, ...) does not stop
the crawl; its item reaches the collectors as an ``ItemFailure`` carrying the
:class:`~.pages.FetchError`, so the summary counts it by reason and the results file has
its line. ``"skip"`` would drop it from both, leaving only a log line: a crawl report must
say which URLs failed and why.

Call policies, two ``retry`` policies (``asyncdag.policies``) stacked: the inner one waits
out a 429 for the pause its ``Retry-After`` asks (``wait=retry_after`` reads
``FetchError.retry_after``), up to ``pages.RATE_LIMITED_WAITS`` times, and takes none of the
page's attempts; the outer one tries a page again after a 5xx, a 429 without Retry-After, a
timeout or a lost connection, ``pages.ATTEMPTS`` attempts in all, with exponential backoff and
full jitter (a Retry-After longer than ``pages.MAX_BACKOFF`` fails the page at once). A failing
page on a rate-limited site so gets its attempts at what fails, and fails with its own reason
("HTTP 500"), not whichever 429 came last. ``giveup`` stops at once for failures another
attempt cannot fix (404, too large, off-origin, robots.txt), and for a 429 the inner policy
has given up on. With config ``polite=True`` (the command line's default for
sites other than the embedded one) ``rate_limit`` spaces the requests to each host evenly,
every attempt included. There is no ``timeout`` policy: the page client's own
per-request timeout (``limits.timeout``) fails an attempt as a retryable ``FetchError`` that
keeps the URL, where the policy's ``TimeoutError`` would not say which URL it was.

Both collectors are streaming (``CollectAsCompleted``): results are folded in as they
finish, so memory holds the window of in-flight items, not the whole crawl.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from asyncdag.function_modifiers import config
from asyncdag.htypes import CollectAsCompleted, Discovered, Frontier, Parallelizable
from asyncdag.policies import on_error, rate_limit, retry, retry_after
from asyncdag.resources import per_worker

from .client import CLIENTS, DEFAULT_CLIENT, AiohttpClient, PageClient
from .http1 import HttpClient
from .pages import (
    ATTEMPTS,
    BACKOFF,
    MAX_BACKOFF,
    RATE_LIMITED_WAITS,
    USER_AGENT,
    Fetched,
    FetchError,
    fetch,
)
from .parsing import DEFAULT_PARSER, PageStats, parse_page
from .report import CrawlTotals, ResultsFile, json_record
from .robots import Robots
from .sitemaps import file_urls, sitemap_file_urls, sitemap_urls
from .urls import CrawlLimits, absolute_links, normalize_url

#: Requests a second to one host when the crawl is polite (config ``polite=True``).
POLITE_RATE = 10


@dataclass(frozen=True)
class Clients:
    """What one event loop of the crawl talks to servers with: ``session`` reads the sitemaps
    and robots.txt, ``pages`` fetches the pages (``client.py``), ``robots`` holds each
    origin's robots.txt rules (``None``: the crawl ignores robots.txt)."""

    session: aiohttp.ClientSession
    pages: PageClient
    robots: Robots | None


@per_worker
async def clients(limits: CrawlLimits, http_client: str = DEFAULT_CLIENT) -> AsyncIterator[Clients]:
    """The crawl's HTTP clients, built once per event loop and closed when the driver closes
    (``http_client``, a name of ``client.CLIENTS``: the pages' client).

    The session has two connections more than the pages fetched at once: the sitemap being
    streamed and a robots.txt being read do not take a page's connection (the sitemap's can
    stay open for the whole crawl while the window holds its reader back).
    """
    if http_client not in CLIENTS:
        raise ValueError(f"http_client {http_client!r} is not one of {', '.join(CLIENTS)}")
    connector = aiohttp.TCPConnector(limit=limits.concurrency + 2, ttl_dns_cache=300)
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=limits.timeout),
        headers={"User-Agent": USER_AGENT},
    ) as session:
        robots = Robots(session, limits) if limits.robots else None
        if http_client == "aiohttp":
            yield Clients(session, AiohttpClient(session), robots)
            return
        pages = HttpClient(
            user_agent=USER_AGENT, timeout=limits.timeout, max_connections=limits.concurrency + 2
        )
        try:
            yield Clients(session, pages, robots)
        finally:
            await pages.aclose()


def _source_urls(
    source: str, session: aiohttp.ClientSession, limits: CrawlLimits
) -> AsyncIterator[str]:
    """The URLs ``source`` lists: a sitemap's URL, a sitemap saved as a ``.xml`` file, or a
    text file of URLs, one a line."""
    if source.startswith(("http://", "https://")):
        return sitemap_urls(session, source, limits)
    if source.endswith(".xml"):
        return sitemap_file_urls(session, source, limits)
    return file_urls(source, limits.max_loc)


@config.when_not(follow=True)
async def url__sitemap(source: str, clients: Clients, limits: CrawlLimits) -> Parallelizable[str]:
    """The URLs to crawl, yielded while ``source`` is read: a sitemap's URL, a sitemap saved
    as a ``.xml`` file, or a text file of URLs, one a line. Each URL is yielded once (by its
    normalised form; fragments dropped), at most ``limits.max_pages`` of them. The set of
    URLs seen, kept for that, is the one thing in the crawl that grows with the number of
    pages."""
    found = _source_urls(source, clients.session, limits)
    seen: set[str] = set()
    try:
        async for raw in found:
            u = raw.partition("#")[0]
            key = normalize_url(u)
            if key in seen:
                continue
            seen.add(key)
            yield u
            if limits.max_pages is not None and len(seen) >= limits.max_pages:
                return
    finally:
        await found.aclose()  # stop reading the sitemap now, not when it is collected


def is_sitemap(source: str) -> bool:
    """Whether a crawl that follows links reads ``source`` for its seeds (a sitemap URL or
    file, ending ``.xml``; a URL file) rather than starting from the page at ``source``."""
    if source.startswith(("http://", "https://")):
        return urlsplit(source).path.endswith(".xml")
    return True


async def _seeds(
    source: str, session: aiohttp.ClientSession, limits: CrawlLimits
) -> AsyncIterator[str]:
    if not is_sitemap(source):
        yield source.partition("#")[0]
        return
    found = _source_urls(source, session, limits)
    try:
        async for raw in found:
            yield raw.partition("#")[0]
    finally:
        await found.aclose()


@config.when(follow=True)
async def url__follow(
    source: str,
    clients: Clients,
    limits: CrawlLimits,
    max_depth: int | None = None,
    follow_order: str = "breadth",
) -> Frontier[str]:
    """The URLs to crawl when following links: the seeds (the page at ``source``; or the
    URLs of the sitemap or URL file ``source`` names), then every URL the crawled pages link
    to, each once (by its normalised form), at most ``max_depth`` links from a seed (``None``:
    no bound) and at most ``limits.max_pages`` in all; of the URLs waiting, the one found
    first goes next (``follow_order="breadth"``) or the deepest (``"depth"``)."""
    return Frontier(
        _seeds(source, clients.session, limits),
        key=normalize_url,
        max_depth=max_depth,
        max_items=limits.max_pages,
        order=follow_order,
    )


def _permanent(error: Exception) -> bool:
    """A failure that another attempt will not fix (404, too large, off-origin, robots.txt...)."""
    return not (isinstance(error, FetchError) and error.retryable)


def _rate_limited(error: Exception) -> bool:
    """A 429 whose Retry-After is worth waiting for: the inner retry policy's to wait out."""
    return (
        isinstance(error, FetchError)
        and error.status == 429
        and error.retry_after is not None
        and error.retry_after <= MAX_BACKOFF
    )


def _not_rate_limited(error: Exception) -> bool:
    return not _rate_limited(error)


def _final(error: Exception) -> bool:
    """Not for the outer policy: permanent, or a 429 the inner policy waited out in vain."""
    return _permanent(error) or _rate_limited(error)


def _host(url: str) -> str | None:
    return urlsplit(url).hostname


#: the page's two retry policies: the outer one for failures another attempt may fix, the
#: inner one waiting out 429s (none of the outer attempts spent on them)
_outer_retry = retry(
    ATTEMPTS, backoff=BACKOFF, max_backoff=MAX_BACKOFF, on=FetchError, giveup=_final,
    wait=retry_after,
)  # fmt: skip
_inner_retry = retry(
    RATE_LIMITED_WAITS + 1, max_backoff=MAX_BACKOFF, on=FetchError, giveup=_not_rate_limited,
    wait=retry_after,
)  # fmt: skip


def _page_retries(fn: Any) -> Any:
    return _outer_retry(_inner_retry(fn))


@config.when_not(polite=True)
@on_error("deliver")
@_page_retries
async def page__fast(url: str, clients: Clients, limits: CrawlLimits) -> Fetched:
    """The page at ``url``: robots.txt honoured, redirects on allowed origins, bounded size; a
    429 waited out for its ``Retry-After`` (the inner ``retry``); a 5xx, a timeout or a lost
    connection tried again after a backoff (the outer ``retry``)."""
    return await fetch(clients.pages, url, limits, clients.robots)


@config.when(polite=True)
@on_error("deliver")
@_page_retries
@rate_limit(POLITE_RATE, per=1.0, key=_host)
async def page__polite(url: str, clients: Clients, limits: CrawlLimits) -> Fetched:
    """Like ``page__fast``, with the requests to any one host spaced evenly, ``POLITE_RATE``
    a second (every attempt waits its turn): the default for sites that are not ours."""
    return await fetch(clients.pages, url, limits, clients.robots)


@on_error("deliver")
async def page_stats(page: Fetched, html_parser: str = DEFAULT_PARSER) -> PageStats:
    """Words and links of the page (``html_parser``: a name of ``parsing.PARSERS``).

    ``async def`` with no await, so it runs inline on the loop: the parse takes ~35 us, and
    as a sync node it would take a thread hop per page, which measured 80 us more CPU per
    page and a slower crawl (``benchmarks/crawl.py``); under the GIL the thread would not
    parse in parallel anyway.
    """
    return parse_page(page, html_parser)


@config.when(follow=True)
@on_error("deliver")
async def links(page_stats: PageStats) -> Discovered[str]:
    """The http(s) URLs the page links to (its hrefs resolved against the URL it was finally
    fetched from, fragments dropped), for ``url``'s frontier. Off-origin ones are kept: the
    frontier takes them up once, and ``page`` counts them as skipped without a request.

    ``async def`` with no await, like ``page_stats``: it runs inline on the loop.
    """
    return absolute_links(page_stats.final_url, page_stats.hrefs)


async def totals(page_stats: CollectAsCompleted[PageStats]) -> CrawlTotals:
    """Pages ok, failed and skipped by reason, words, links and the word counts."""
    found = CrawlTotals()
    async for result in page_stats:
        found.add(result)
    return found


async def results_file(page_stats: CollectAsCompleted[PageStats], output_path: str) -> int:
    """Writes one JSON line per URL to ``output_path`` as results arrive; returns the lines.

    Lines go out in batches (64 lines, or what arrived in the last 0.2 s), each written on a
    thread: one write per page would pay a thread hop (~50 us) 2,000 times a crawl. When the
    crawl stops early (Ctrl-C, SIGTERM, a failing node) the lines still held are written
    before the node ends, so the file has a line for every page that reached it.
    """
    out = ResultsFile(output_path)
    try:
        async for result in page_stats:
            await out.add(json_record(result))
    finally:
        out.close()
    return out.lines
