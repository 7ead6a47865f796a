"""Fetching, parsing and sitemap reading: plain async functions, no dataflow.

The crawl dataflow (``dataflow.py``) wires these into nodes; the hand-written crawler of
``benchmarks/crawl.py`` calls the very same functions, so that a comparison of the two
measures the scheduling, not the HTTP or HTML code.

Safety bounds live in :class:`CrawlLimits`: the hosts a crawl may touch, page size, redirects,
per-request timeout, how many 429s to wait out. Every way a single URL can fail is a
:class:`FetchError` with a short ``reason`` ("HTTP 404", "too large", "off-host", ...) that
the summary counts by.
"""

from __future__ import annotations

import asyncio
import random
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

import aiohttp

__all__ = [
    "CrawlLimits",
    "FetchError",
    "Fetched",
    "PageStats",
    "SitemapError",
    "backoff_delay",
    "check_url",
    "fetch",
    "file_urls",
    "parse_page",
    "sitemap_file_urls",
    "sitemap_urls",
]

USER_AGENT = "asyncdag-crawler-example/0.1 (+https://github.com/asyncdag)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_WORD = re.compile(r"[^\W\d_]+")
#: How a page is retried after a 5xx, a timeout or a lost connection (all attempts included),
#: and the backoff before the first retry / at most (seconds; full jitter, doubling).
ATTEMPTS = 4
BACKOFF = 0.05
MAX_BACKOFF = 2.0


@dataclass(frozen=True)
class CrawlLimits:
    """The bounds of a crawl. ``hosts`` are the host names it may fetch from (lowercase)."""

    hosts: frozenset[str]
    follow_external: bool = False
    max_pages: int | None = None  # URLs taken from the sitemap(s) or file
    max_bytes: int = 1024 * 1024  # per page body
    max_redirects: int = 5
    timeout: float = 10.0  # seconds per request (aiohttp's timeout)
    rate_limited_waits: int = 10  # 429s a page waits out (Retry-After) before it fails
    max_retry_after: float = 30.0  # a longer Retry-After fails the page instead of waiting
    concurrency: int = 64  # connections (and block instances) at once

    def allows(self, url: str) -> bool:
        """Whether ``url``'s host may be fetched."""
        if self.follow_external:
            return True
        host = urlsplit(url).hostname
        return host is not None and host.lower() in self.hosts


class FetchError(Exception):
    """A URL that gave no page: ``reason`` is what the summary counts it under.

    ``skipped`` marks URLs not fetched on purpose (off-host); ``retryable`` ones may answer
    on a later attempt (5xx, timeout, lost connection).
    """

    def __init__(
        self,
        url: str,
        reason: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        skipped: bool = False,
    ) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        self.skipped = skipped


class SitemapError(Exception):
    """A sitemap (or URL file) that cannot be read: the crawl stops with this message."""


@dataclass(frozen=True)
class Fetched:
    """A page's answer: the body of a 2xx, after redirects."""

    url: str  # as listed
    final_url: str
    status: int
    content_type: str
    charset: str | None
    body: bytes
    redirects: int = 0


@dataclass(frozen=True)
class PageStats:
    """What the crawl keeps of a page."""

    url: str
    final_url: str
    status: int
    bytes: int
    words: int
    links: int
    word_counts: Counter[str] = field(repr=False, compare=False)


# -- URLs --------------------------------------------------------------------------------


def check_url(url: str) -> str | None:
    """Why ``url`` is not a crawlable http(s) URL, or ``None`` when it is."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in ("http", "https"):
        return f"not an http(s) URL: {url!r}"
    if not parts.hostname:
        return f"no host in URL: {url!r}"
    if any(c.isspace() for c in url):
        return f"whitespace in URL: {url!r}"
    return None


# -- fetching ----------------------------------------------------------------------------


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare; fall back to the backoff


async def fetch(session: aiohttp.ClientSession, url: str, limits: CrawlLimits) -> Fetched:
    """The page at ``url``: redirects followed (each to an allowed host), the body bounded by
    ``limits.max_bytes``, a 429 waited out for its ``Retry-After`` (up to
    ``limits.rate_limited_waits`` times: the server says when to come back, so this is flow
    control, not a failure to back off from).

    Raises :class:`FetchError`; ``retryable`` tells whether another attempt may succeed (5xx,
    timeout, lost connection): the caller decides on retries.
    """
    problem = check_url(url)
    if problem is not None:
        raise FetchError(url, "invalid URL")
    if not limits.allows(url):
        raise FetchError(url, "off-host", skipped=True)
    for waits in range(limits.rate_limited_waits + 1):
        try:
            return await _fetch_once(session, url, limits)
        except FetchError as err:
            if err.status != 429:
                raise
            delay = err.retry_after if err.retry_after is not None else 1.0
            if waits == limits.rate_limited_waits or delay > limits.max_retry_after:
                raise
        await asyncio.sleep(delay)  # outside the except: the next error gets no __context__
    raise AssertionError("unreachable")  # pragma: no cover


async def _fetch_once(session: aiohttp.ClientSession, url: str, limits: CrawlLimits) -> Fetched:
    current = url
    for redirects in range(limits.max_redirects + 1):
        try:
            async with session.get(current, allow_redirects=False) as resp:
                status = resp.status
                if status in REDIRECT_STATUSES:
                    location = resp.headers.get("Location")
                    if not location:
                        raise FetchError(url, f"HTTP {status} without Location", status=status)
                    current = urldefrag(urljoin(current, location))[0]
                    if check_url(current) is not None:
                        raise FetchError(url, "invalid redirect", status=status)
                    if not limits.allows(current):
                        raise FetchError(url, "off-host", status=status, skipped=True)
                    continue
                if status >= 400:
                    raise FetchError(
                        url,
                        f"HTTP {status}",
                        status=status,
                        retryable=status in RETRY_STATUSES and status != 429,
                        retry_after=_retry_after(resp.headers.get("Retry-After")),
                    )
                body = await _read_bounded(resp, url, limits.max_bytes)
                return Fetched(
                    url,
                    current,
                    status,
                    resp.content_type,
                    resp.charset,
                    body,
                    redirects=redirects,
                )
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise FetchError(url, "timeout", retryable=True) from exc
        except aiohttp.ClientConnectionError as exc:
            raise FetchError(url, "connection error", retryable=True) from exc
        except aiohttp.ClientError as exc:
            raise FetchError(url, f"client error ({type(exc).__name__})") from exc
    raise FetchError(url, "too many redirects")


async def _read_bounded(resp: aiohttp.ClientResponse, url: str, max_bytes: int) -> bytes:
    length = resp.content_length
    if length is not None:
        if length > max_bytes:
            raise FetchError(url, "too large", status=resp.status)
        return await resp.read()
    body = bytearray()
    async for chunk in resp.content.iter_any():
        body += chunk
        if len(body) > max_bytes:
            raise FetchError(url, "too large", status=resp.status)
    return bytes(body)


def backoff_delay(retry: int, retry_after: float | None) -> float:
    """Seconds before retry number ``retry`` (1 for the second attempt): the server's
    Retry-After when it gave one, else exponential backoff with full jitter (what
    ``asyncdag.policies.retry`` does, with the same constants)."""
    if retry_after is not None:
        return retry_after
    return random.uniform(0.0, min(MAX_BACKOFF, BACKOFF * 2 ** (retry - 1)))


# -- parsing -----------------------------------------------------------------------------


class _TextAndLinks(HTMLParser):
    """Counts the words of a page's text (not scripts, styles or comments) and its links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.links = 0
        self._hidden = 0  # inside <script> or <style>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden += 1
        elif tag == "a" and any(k == "href" and v for k, v in attrs):
            self.links += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.text.append(data)


def parse_page(fetched: Fetched) -> PageStats:
    """Words and links of an HTML page (other content types count as pages of no words)."""
    counts: Counter[str] = Counter()
    links = 0
    if fetched.content_type in ("text/html", "application/xhtml+xml"):
        parser = _TextAndLinks()
        parser.feed(fetched.body.decode(fetched.charset or "utf-8", errors="replace"))
        parser.close()
        # one pass over the text: cheaper than counting piece by piece
        counts = Counter(_WORD.findall(" ".join(parser.text).lower()))
        links = parser.links
    return PageStats(
        fetched.url,
        fetched.final_url,
        fetched.status,
        len(fetched.body),
        sum(counts.values()),
        links,
        counts,
    )


# -- where URLs come from ----------------------------------------------------------------

_SITEMAP_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=60)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


class _SitemapReader:
    """An incremental sitemap parser: feed it bytes as they come, get the page URLs read so
    far. Only the element being read is held in memory. The child sitemaps of an index are
    kept in ``children``."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.children: list[str] = []
        self._parser = ET.XMLPullParser(events=("start", "end"))
        self._root: ET.Element | None = None
        self._index = False

    def feed(self, chunk: bytes) -> list[str]:
        try:
            self._parser.feed(chunk)
            return self._read()
        except ET.ParseError as exc:
            raise SitemapError(f"malformed sitemap {self.where}: {exc}") from None

    def close(self) -> list[str]:
        try:
            self._parser.close()
            found = self._read()
        except ET.ParseError as exc:
            raise SitemapError(f"malformed sitemap {self.where}: {exc}") from None
        if self._root is None:
            raise SitemapError(f"empty sitemap: {self.where}")
        return found

    def _read(self) -> list[str]:
        found: list[str] = []
        for event, elem in self._parser.read_events():
            root = self._root
            if root is None:
                root = self._root = elem
                kind = _local(root.tag)
                if kind not in ("urlset", "sitemapindex"):
                    raise SitemapError(
                        f"not a sitemap: {self.where} (its root element is <{kind}>,"
                        " not <urlset> or <sitemapindex>)"
                    )
                self._index = kind == "sitemapindex"
                continue
            if event != "end":
                continue
            tag = _local(elem.tag)
            if tag == "loc":
                loc = (elem.text or "").strip()
                if self._index:
                    self.children.append(urljoin(self.where, loc))
                else:
                    found.append(loc)
            elif tag in ("url", "sitemap"):
                root.clear()  # done with it: memory stays flat on a big sitemap
        return found


async def sitemap_urls(
    session: aiohttp.ClientSession, url: str, limits: CrawlLimits, *, depth: int = 0
) -> AsyncIterator[str]:
    """The page URLs of the sitemap at ``url``, yielded while it downloads; a sitemap index
    is followed into its child sitemaps (on allowed hosts). The first URL is yielded as soon
    as its ``<loc>`` has arrived.

    Raises :class:`SitemapError` for a sitemap that cannot be fetched or is not one.
    """
    if depth > 2:
        raise SitemapError(f"sitemap {url}: sitemap indexes nested more than twice")
    reader = _SitemapReader(url)
    for attempt in range(1, ATTEMPTS + limits.rate_limited_waits + 1):
        try:
            async with session.get(url, timeout=_SITEMAP_TIMEOUT) as resp:
                if resp.status in RETRY_STATUSES and attempt < ATTEMPTS + limits.rate_limited_waits:
                    retry_after = _retry_after(resp.headers.get("Retry-After"))
                    wait = backoff_delay(attempt, retry_after)
                    await asyncio.sleep(min(wait, limits.max_retry_after))
                    continue
                if resp.status >= 400:
                    raise SitemapError(f"sitemap {url}: HTTP {resp.status}")
                if resp.content_type == "text/html":
                    raise SitemapError(f"not a sitemap: {url} (it is an HTML page)")
                async for chunk in resp.content.iter_any():
                    for loc in reader.feed(chunk):
                        yield loc
                for loc in reader.close():
                    yield loc
                break
        except aiohttp.ClientError as exc:
            raise SitemapError(f"sitemap {url}: {type(exc).__name__}: {exc}") from None
        except asyncio.TimeoutError:
            raise SitemapError(f"sitemap {url}: timed out") from None
    async for loc in _children(session, reader, limits, depth):
        yield loc


async def _children(
    session: aiohttp.ClientSession, reader: _SitemapReader, limits: CrawlLimits, depth: int
) -> AsyncIterator[str]:
    for child in reader.children:
        if check_url(child) is not None:
            raise SitemapError(f"sitemap {reader.where}: bad child sitemap URL {child!r}")
        if not limits.allows(child):
            continue  # a child sitemap on another host is not ours to read
        async for loc in sitemap_urls(session, child, limits, depth=depth + 1):
            yield loc


async def sitemap_file_urls(
    session: aiohttp.ClientSession, path: str, limits: CrawlLimits
) -> AsyncIterator[str]:
    """Like :func:`sitemap_urls`, for a sitemap saved in a local file."""
    import aiofiles

    reader = _SitemapReader(path)
    try:
        async with aiofiles.open(path, "rb") as f:
            while chunk := await f.read(64 * 1024):
                for loc in reader.feed(chunk):
                    yield loc
    except OSError as exc:
        raise SitemapError(f"cannot read sitemap {path}: {exc}") from None
    for loc in reader.close():
        yield loc
    async for loc in _children(session, reader, limits, 0):
        yield loc


async def file_urls(path: str) -> AsyncIterator[str]:
    """The URLs of a text file, one a line (blank lines and ``#`` comments left out)."""
    import aiofiles

    try:
        async with aiofiles.open(path, encoding="utf-8") as f:
            async for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    yield line
    except (OSError, UnicodeDecodeError) as exc:
        raise SitemapError(f"cannot read URL file {path}: {exc}") from None
