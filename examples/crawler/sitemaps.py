"""Where URLs come from: sitemaps (over HTTP or saved), and text files of URLs.

A sitemap is read as a stream: each ``<loc>`` is yielded as soon as it has arrived, and the
crawl's window holds the reader back when pages fall behind. A sitemap index is followed into
its child sitemaps (on allowed origins, two levels at most).

A sitemap is something a stranger wrote, so reading one is bounded
(:class:`~.urls.CrawlLimits`), and going over a bound stops the crawl with a one-line
:class:`~.pages.SitemapError`:

- every request (the sitemap, each child, each redirect hop) goes to an allowed origin;
- ``sitemap_max_bytes``: the bytes of all the sitemaps of a crawl together;
- ``sitemap_timeout``: the seconds spent waiting for sitemap bytes, all sitemaps together,
  from the request to the last byte (a slowloris server trickling bytes runs it out; the time
  the reader is held back by the crawl's window does not count, so a slow, polite crawl of a
  big sitemap is not cut short);
- ``max_loc``: characters in one ``<loc>``. The XML parser (expat) hands text over in pieces
  as it arrives, so a ``<loc>`` is never held whole past the bound: memory stays at the bound
  plus one network chunk, whatever the server sends.
"""

from __future__ import annotations

import asyncio
import pyexpat
import time
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar
from urllib.parse import urljoin

import aiofiles
import aiohttp
import anyio

from .pages import (
    ATTEMPTS,
    MAX_BACKOFF,
    REDIRECT_STATUSES,
    RETRY_STATUSES,
    SitemapError,
    backoff_delay,
    parse_retry_after,
)
from .urls import CrawlLimits, check_url

__all__ = ["SitemapBudget", "file_urls", "sitemap_file_urls", "sitemap_urls"]

T = TypeVar("T")

# per read, not per document: the total is SitemapBudget's
_SITEMAP_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=60)
_FILE_CHUNK = 64 * 1024


class SitemapBudget:
    """What all the sitemaps of one crawl may cost together: bytes, and seconds spent
    waiting for them. ``bytes_read`` says how much was read (the tests check it)."""

    def __init__(self, limits: CrawlLimits) -> None:
        self.max_bytes = limits.sitemap_max_bytes
        self.timeout = limits.sitemap_timeout
        self.max_loc = limits.max_loc
        self.bytes_read = 0
        self.seconds_waited = 0.0

    async def wait(self, awaitable: Awaitable[T], where: str) -> T:
        """``await awaitable``, within what is left of the time budget."""
        started = time.monotonic()
        try:
            with anyio.move_on_after(self.timeout - self.seconds_waited) as scope:
                return await awaitable
        finally:
            self.seconds_waited += time.monotonic() - started
        assert scope.cancelled_caught
        raise SitemapError(
            f"sitemap {where}: not read within {self.timeout:g} s (all sitemaps together;"
            " --sitemap-timeout to wait longer)"
        )

    def take(self, size: int, where: str) -> None:
        """Count ``size`` more bytes read; raises past the byte budget."""
        self.bytes_read += size
        self.fits(0, where)

    def fits(self, size: int, where: str) -> None:
        """Raises unless ``size`` more bytes fit in the byte budget."""
        if self.bytes_read + size > self.max_bytes:
            raise SitemapError(
                f"sitemap {where}: the sitemaps are larger than {self.max_bytes:,} bytes"
                " together (--sitemap-max-bytes to read more)"
            )


class _SitemapReader:
    """An incremental sitemap parser: feed it bytes as they come, get the page URLs read so
    far. Nothing but the ``<loc>`` being read is kept (at most ``max_loc`` characters). The
    child sitemaps of an index are kept in ``children``."""

    def __init__(self, where: str, max_loc: int) -> None:
        self.where = where
        self.max_loc = max_loc
        self.children: list[str] = []
        self._found: list[str] = []
        self._kind: str | None = None  # "urlset" or "sitemapindex", once the root is read
        self._namespace = ""
        self._depth = 0
        self._loc: list[str] | None = None  # pieces of the <loc> being read
        self._loc_size = 0
        self._fed = False
        parser = pyexpat.ParserCreate(namespace_separator="}")
        parser.buffer_text = False  # text as it arrives: a long <loc> is never held whole
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._text
        self._parser = parser

    def feed(self, chunk: bytes) -> list[str]:
        self._fed = self._fed or bool(chunk)
        self._parse(chunk, final=False)
        found, self._found = self._found, []
        return found

    def close(self) -> list[str]:
        if not self._fed:
            raise SitemapError(f"empty sitemap: {self.where}")
        self._parse(b"", final=True)
        return self._found

    def _parse(self, data: bytes, *, final: bool) -> None:
        try:
            self._parser.Parse(data, final)
        except pyexpat.ExpatError as exc:
            raise SitemapError(f"malformed sitemap {self.where}: {exc}") from None

    def _start(self, name: str, attrs: object) -> None:
        namespace, _, local = name.rpartition("}")
        self._depth += 1
        if self._kind is None:
            if local not in ("urlset", "sitemapindex"):
                raise SitemapError(
                    f"not a sitemap: {self.where} (its root element is <{local}>,"
                    " not <urlset> or <sitemapindex>)"
                )
            self._kind = local
            self._namespace = namespace
        elif self._depth == 3 and local == "loc" and namespace == self._namespace:
            self._loc = []
            self._loc_size = 0

    def _text(self, data: str) -> None:
        if self._loc is not None:
            self._loc_size += len(data)
            if self._loc_size > self.max_loc:
                raise SitemapError(
                    f"sitemap {self.where}: a <loc> longer than {self.max_loc:,} characters"
                    " (--max-loc to allow longer ones)"
                )
            self._loc.append(data)

    def _end(self, name: str) -> None:
        self._depth -= 1
        if self._loc is not None and self._depth == 2:
            loc = "".join(self._loc).strip()
            self._loc = None
            if self._kind == "sitemapindex":
                self.children.append(urljoin(self.where, loc))
            else:
                self._found.append(loc)


async def _document(
    session: aiohttp.ClientSession, url: str, limits: CrawlLimits, budget: SitemapBudget
) -> AsyncIterator[bytes]:
    """The bytes of the sitemap at ``url`` as they arrive: redirects followed to allowed
    origins only, 5xx and 429 tried again (as a page is: ``pages.ATTEMPTS``, a Retry-After
    waited out), everything within ``budget``."""
    current = url
    redirects = 0
    attempt = 1
    while True:
        if not limits.allows(current):
            via = "" if current == url else f" (redirected from {url})"
            raise SitemapError(
                f"sitemap {current}{via} is not on an allowed origin (scheme, host and port;"
                " --allow-host to add one)"
            )
        try:
            resp = await budget.wait(
                session.get(current, allow_redirects=False, timeout=_SITEMAP_TIMEOUT), url
            )
        except aiohttp.ClientError as exc:
            raise SitemapError(f"sitemap {current}: {type(exc).__name__}: {exc}") from None
        except asyncio.TimeoutError:
            raise SitemapError(f"sitemap {current}: timed out") from None
        try:
            status = resp.status
            if status in REDIRECT_STATUSES:
                location = resp.headers.get("Location")
                redirects += 1
                if not location or redirects > limits.max_redirects:
                    raise SitemapError(f"sitemap {url}: HTTP {status}, too many redirects")
                current = urljoin(current, location).partition("#")[0]
                if check_url(current) is not None:
                    raise SitemapError(f"sitemap {url}: redirects to a bad URL {current!r}")
                continue
            if status in RETRY_STATUSES and attempt < ATTEMPTS:
                wait = backoff_delay(attempt, parse_retry_after(resp.headers.get("Retry-After")))
                if wait > MAX_BACKOFF:
                    raise SitemapError(
                        f"sitemap {current}: HTTP {status}, asked to come back in {wait:.0f} s"
                        f" (the crawl waits {MAX_BACKOFF:.0f} s at most)"
                    )
                attempt += 1
                resp.release()
                await asyncio.sleep(wait)
                continue
            if status >= 400:
                raise SitemapError(f"sitemap {current}: HTTP {status}")
            if resp.content_type == "text/html":
                raise SitemapError(f"not a sitemap: {current} (it is an HTML page)")
            if resp.content_length is not None:
                budget.fits(resp.content_length, current)  # fail now, not after reading it
            while True:
                try:
                    chunk = await budget.wait(resp.content.readany(), current)
                except aiohttp.ClientError as exc:
                    raise SitemapError(f"sitemap {current}: {type(exc).__name__}: {exc}") from None
                except asyncio.TimeoutError:
                    raise SitemapError(f"sitemap {current}: timed out") from None
                if not chunk:
                    return
                budget.take(len(chunk), current)
                yield chunk
        finally:
            resp.release()


async def sitemap_urls(
    session: aiohttp.ClientSession,
    url: str,
    limits: CrawlLimits,
    *,
    budget: SitemapBudget | None = None,
    depth: int = 0,
) -> AsyncIterator[str]:
    """The page URLs of the sitemap at ``url``, yielded while it downloads; a sitemap index
    is followed into its child sitemaps (on allowed origins). The first URL is yielded as
    soon as its ``<loc>`` has arrived. ``budget`` is shared by all the sitemaps of a crawl
    (a new one from ``limits`` when not given).

    Raises :class:`~.pages.SitemapError` for a sitemap that cannot be fetched, is not one, or
    goes over a bound.
    """
    if depth > 2:
        raise SitemapError(f"sitemap {url}: sitemap indexes nested more than twice")
    budget = budget or SitemapBudget(limits)
    reader = _SitemapReader(url, limits.max_loc)
    chunks = _document(session, url, limits, budget)
    try:
        async for chunk in chunks:
            for loc in reader.feed(chunk):
                yield loc
    finally:
        await chunks.aclose()
    for loc in reader.close():
        yield loc
    async for loc in _children(session, reader, limits, budget, depth):
        yield loc


async def _children(
    session: aiohttp.ClientSession,
    reader: _SitemapReader,
    limits: CrawlLimits,
    budget: SitemapBudget,
    depth: int,
) -> AsyncIterator[str]:
    for child in reader.children:
        if check_url(child) is not None:
            raise SitemapError(f"sitemap {reader.where}: bad child sitemap URL {child!r}")
        if not limits.allows(child):
            continue  # a child sitemap on another origin is not ours to read
        found = sitemap_urls(session, child, limits, budget=budget, depth=depth + 1)
        try:
            async for loc in found:
                yield loc
        finally:
            await found.aclose()


async def sitemap_file_urls(
    session: aiohttp.ClientSession, path: str, limits: CrawlLimits
) -> AsyncIterator[str]:
    """Like :func:`sitemap_urls`, for a sitemap saved in a local file (same bounds on
    bytes and ``<loc>`` length)."""
    budget = SitemapBudget(limits)
    reader = _SitemapReader(path, limits.max_loc)
    try:
        async with aiofiles.open(path, "rb") as f:
            while chunk := await f.read(_FILE_CHUNK):
                budget.take(len(chunk), path)
                for loc in reader.feed(chunk):
                    yield loc
    except OSError as exc:
        raise SitemapError(f"cannot read sitemap {path}: {exc}") from None
    for loc in reader.close():
        yield loc
    async for loc in _children(session, reader, limits, budget, 0):
        yield loc


async def file_urls(path: str, max_line: int = 8192) -> AsyncIterator[str]:
    """The URLs of a text file, one a line (blank lines and ``#`` comments left out); a line
    longer than ``max_line`` characters is an error (it is never read whole)."""
    rest = ""
    try:
        async with aiofiles.open(path, encoding="utf-8") as f:
            while chunk := await f.read(_FILE_CHUNK):
                lines = (rest + chunk).split("\n")
                rest = lines.pop()
                if len(rest) > max_line:
                    raise SitemapError(f"URL file {path}: a line longer than {max_line:,}")
                for line in lines:
                    if len(line) > max_line:
                        raise SitemapError(f"URL file {path}: a line longer than {max_line:,}")
                    line = line.strip()
                    if line and not line.startswith("#"):
                        yield line
    except (OSError, UnicodeDecodeError) as exc:
        raise SitemapError(f"cannot read URL file {path}: {exc}") from None
    line = rest.strip()
    if line and not line.startswith("#"):
        yield line
