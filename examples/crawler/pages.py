"""Fetching one page: plain async functions, no dataflow.

The crawl dataflow (``dataflow.py``) wires these into nodes; the hand-written crawler of
``benchmarks/crawl.py`` calls the very same functions, so that a comparison of the two
measures the scheduling, not the HTTP or HTML code.

Safety bounds live in :class:`~.urls.CrawlLimits`: the origins a crawl may touch, page size,
redirects, per-request timeout. Every request asks the limits first, every redirect hop
included, and robots.txt (``robots.py``) when one is given. Every way a single URL can fail
is a :class:`FetchError` with a short ``reason`` ("HTTP 404", "too large", "off-origin",
"robots.txt", ...) that the summary counts by.

:func:`fetch` makes one attempt: whether and when to try again is the caller's (the
dataflow's ``retry`` policy, reading ``FetchError.retryable`` and ``retry_after``).
:func:`fetch_patiently` is ``fetch`` with a server's "429 Too Many Requests" waited out
first, written by hand for the benchmark's hand-written crawler (the dataflow gets the same
from two stacked ``retry`` policies).
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urljoin

from .client import BadResponse, BodyTooLarge, ConnectionFailed, PageClient, RequestTimeout
from .urls import CrawlLimits, check_url

__all__ = [
    "ATTEMPTS",
    "BACKOFF",
    "MAX_BACKOFF",
    "USER_AGENT",
    "CrawlLimits",
    "FetchError",
    "Fetched",
    "Gate",
    "SitemapError",
    "backoff_delay",
    "check_url",
    "fetch",
    "fetch_patiently",
    "parse_retry_after",
]

USER_AGENT = "asyncdag-crawler-example/0.1 (+https://github.com/asyncdag)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: How a page is tried again after a 5xx, a timeout, a lost connection or a 429 without
#: Retry-After: attempts in all, the backoff before the first retry (seconds; full jitter,
#: doubling), and the longest pause: a server's Retry-After longer than that fails the page at
#: once (retrying sooner than it asked would be refused again).
ATTEMPTS = 4
BACKOFF = 0.05
MAX_BACKOFF = 30.0
#: A 429 with a Retry-After of at most ``MAX_BACKOFF`` is waited out by ``fetch_patiently``
#: up to this many times in a row before the page fails with it: a rate limit says "later",
#: not "broken", so it takes none of the ``ATTEMPTS``.
RATE_LIMITED_WAITS = 10


def _rebuild_fetch_error(url: str, reason: str, details: dict[str, Any]) -> FetchError:
    return FetchError(url, reason, **details)


class FetchError(Exception):
    """A URL that gave no page: ``reason`` is what the summary counts it under.

    ``skipped`` marks URLs not fetched on purpose (off-origin, robots.txt); ``retryable`` ones
    may answer on a later attempt (429, 5xx, timeout, lost connection), after ``retry_after``
    seconds when the server said so (what ``asyncdag.policies.retry_after`` reads). It pickles
    (a worker process hands it to the parent), keeping every field.
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

    def __reduce__(self) -> tuple[Any, ...]:
        details = {
            "status": self.status,
            "retryable": self.retryable,
            "retry_after": self.retry_after,
            "skipped": self.skipped,
        }
        return (_rebuild_fetch_error, (self.url, self.reason, details))


class Gate(Protocol):
    """What a request asks before it is sent, besides the limits (robots.txt: ``robots.py``)."""

    async def refusal(self, url: str) -> str | None:
        """Why ``url`` must not be fetched (a skip reason), or ``None``."""
        ...

    async def wait_turn(self, url: str) -> None:
        """Returns when a request to ``url``'s origin may be sent (a crawl delay)."""
        ...


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


def parse_retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds, from seconds or an HTTP date (``None`` when
    absent or unreadable)."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, seconds) if seconds == seconds else None  # NaN: unreadable


def backoff_delay(retry: int, retry_after: float | None) -> float:
    """Seconds before retry number ``retry`` (1 for the second attempt): the server's
    Retry-After when it gave one, else exponential backoff with full jitter (what
    ``asyncdag.policies.retry`` does, with the same constants)."""
    if retry_after is not None:
        return retry_after
    return random.uniform(0.0, min(MAX_BACKOFF, BACKOFF * 2 ** (retry - 1)))


async def fetch(
    client: PageClient,
    url: str,
    limits: CrawlLimits,
    robots: Gate | None = None,
) -> Fetched:
    """One attempt at the page at ``url`` with ``client`` (``client.py``): redirects
    followed (each hop to an allowed origin and, with ``robots``, a path its robots.txt
    allows), the body bounded by ``limits.max_bytes``.

    Raises :class:`FetchError`; ``retryable`` tells whether another attempt may succeed (429,
    5xx, timeout, lost connection) and ``retry_after`` when the server asked for a pause: the
    caller decides on retries.
    """
    if check_url(url) is not None:
        raise FetchError(url, "invalid URL")
    if not limits.allows(url):
        raise FetchError(url, "off-origin", skipped=True)
    return await _fetch_once(client, url, limits, robots)


async def fetch_patiently(
    client: PageClient,
    url: str,
    limits: CrawlLimits,
    robots: Gate | None = None,
) -> Fetched:
    """:func:`fetch`, with each 429 whose ``Retry-After`` is at most ``MAX_BACKOFF`` waited
    out (that long) and tried again, up to ``RATE_LIMITED_WAITS`` times in a row; then the
    429 is final (``retryable`` false). Any other failure, and a 429 without Retry-After or
    with a longer one, is raised as ``fetch`` raised it: the retry policy's to judge.

    A failing page on a rate-limited site so gets its ``ATTEMPTS`` at what fails, and the
    reason it fails with is its own ("HTTP 500"), not whichever 429 came last.
    """
    for waited in range(RATE_LIMITED_WAITS + 1):
        try:
            return await fetch(client, url, limits, robots)
        except FetchError as err:
            pause = err.retry_after
            if err.status != 429 or pause is None or pause > MAX_BACKOFF:
                raise
            if waited == RATE_LIMITED_WAITS:
                raise FetchError(url, err.reason, status=429, retry_after=pause) from err
        await _sleep(pause)
    raise AssertionError("unreachable")


_sleep = asyncio.sleep  # tests put a fake clock here


async def _fetch_once(
    client: PageClient, url: str, limits: CrawlLimits, robots: Gate | None
) -> Fetched:
    current = url
    for redirects in range(limits.max_redirects + 1):
        if robots is not None:
            refusal = await robots.refusal(current)
            if refusal is not None:
                raise FetchError(url, refusal, skipped=True)
            await robots.wait_turn(current)
        try:
            answer = await client.get(current, max_bytes=limits.max_bytes)
        except RequestTimeout as exc:
            raise FetchError(url, "timeout", retryable=True) from exc
        except ConnectionFailed as exc:
            raise FetchError(url, "connection error", retryable=True) from exc
        except BodyTooLarge as exc:
            raise FetchError(url, "too large", status=exc.status) from exc
        except BadResponse as exc:
            raise FetchError(url, "bad response") from exc
        status = answer.status
        if status in REDIRECT_STATUSES:
            location = answer.headers.get("location")
            if not location:
                raise FetchError(url, f"HTTP {status} without Location", status=status)
            current = urljoin(current, location).partition("#")[0]
            if check_url(current) is not None:
                raise FetchError(url, "invalid redirect", status=status)
            if not limits.allows(current):
                raise FetchError(url, "off-origin", status=status, skipped=True)
            continue
        if status >= 400:
            raise FetchError(
                url,
                f"HTTP {status}",
                status=status,
                retryable=status in RETRY_STATUSES,
                retry_after=parse_retry_after(answer.headers.get("retry-after")),
            )
        return Fetched(
            url,
            current,
            status,
            answer.content_type,
            answer.charset,
            answer.body,
            redirects=redirects,
        )
    raise FetchError(url, "too many redirects")
