"""URLs and origins: what a crawl may touch.

An *origin* is a URL's scheme, host and port (``("http", "127.0.0.1", 8080)``): two URLs
with the same host name on different ports are different origins, so an allow-list of
origins keeps a crawl off the other services of an allowed host (an admin port, say), which
a list of host names would not. :class:`CrawlLimits` holds the allow-list and the other
bounds of a crawl; every request the crawler makes, every redirect hop included, asks
:meth:`CrawlLimits.allows` first.

:func:`normalize_url` is the key a crawl de-duplicates URLs by.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from urllib.parse import urljoin, urlsplit, urlunsplit

__all__ = [
    "DEFAULT_PORTS",
    "CrawlLimits",
    "Origin",
    "absolute_links",
    "check_url",
    "normalize_url",
    "origin_of",
    "origins_for_host",
    "parse_allowed",
]

#: scheme, host (lowercase), port
Origin = tuple[str, str, int]

DEFAULT_PORTS = {"http": 80, "https": 443}


def check_url(url: str) -> str | None:
    """Why ``url`` is not a crawlable http(s) URL, or ``None`` when it is."""
    if origin_of(url) is not None and url.isprintable() and " " not in url:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in DEFAULT_PORTS:
        return f"not an http(s) URL: {url!r}"
    if not parts.hostname:
        return f"no host in URL: {url!r}"
    if not url.isprintable() or " " in url:
        return f"whitespace in URL: {url!r}"
    return None


def origin_of(url: str) -> Origin | None:
    """The origin of an http(s) URL; ``None`` for anything else (or a bad port).

    Remembered by the URL's ``scheme://host:port`` (a few thousand of them): every request
    asks it, and ``urlsplit`` with its ``port`` took ~3 us of the crawl's CPU a page.
    """
    start = url.find("://")
    if start <= 0:
        return _origin_of(url)
    end = _AUTHORITY_END.search(url, start + 3)
    authority = url[: end.start()] if end is not None else url
    try:
        return _ORIGINS[authority]
    except KeyError:
        pass
    origin = _origin_of(url)
    if authority.isprintable() and " " not in authority and "\\" not in authority:
        if len(_ORIGINS) >= _ORIGINS_KEPT:
            _ORIGINS.clear()
        _ORIGINS[authority] = origin
    return origin


_AUTHORITY_END = re.compile(r"[/?#]")
_ORIGINS: dict[str, Origin | None] = {}
_ORIGINS_KEPT = 4096


def _origin_of(url: str) -> Origin | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    default = DEFAULT_PORTS.get(scheme)
    if default is None or not host:
        return None
    return (scheme, host, port if port is not None else default)


def normalize_url(url: str) -> str:
    """The form of ``url`` a crawl de-duplicates by: fragment dropped, scheme and host
    lowercased, the default port left out, an empty path written ``/``.

    >>> normalize_url("HTTP://Example.COM:80#top")
    'http://example.com/'
    """
    if _looks_normal(url):
        return url
    parts = urlsplit(url.partition("#")[0])
    scheme = parts.scheme.lower()
    netloc = parts.netloc
    host = parts.hostname
    if host is not None:
        try:
            port = parts.port
        except ValueError:
            port = None
        userinfo = netloc.rpartition("@")[0]
        shown = f"[{host}]" if ":" in host else host
        if port is not None and port != DEFAULT_PORTS.get(scheme):
            shown = f"{shown}:{port}"
        netloc = f"{userinfo}@{shown}" if userinfo else shown
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def absolute_links(base: str, hrefs: Iterable[str]) -> list[str]:
    """The http(s) URLs that ``hrefs``, written on the page at ``base``, lead to: resolved as
    ``urllib.parse.urljoin`` does, fragments dropped, in page order; other schemes
    (``mailto:``, ``javascript:``...) and hrefs that do not parse are left out.

    The common forms (``/path``, ``name``) are joined by hand, the rest by ``urljoin``: the
    same URLs (``tests/test_crawler_follow.py`` compares them), for ~0.5 us a link instead
    of ~6.

    >>> absolute_links("http://a.test/x/y", ["z#top", "/w", "mailto:me@a.test", "HTTP://B.test"])
    ['http://a.test/x/z', 'http://a.test/w', 'http://B.test']
    """
    found: list[str] = []
    parts = urlsplit(base)
    origin = f"{parts.scheme}://{parts.netloc}"
    here = origin + (parts.path[: parts.path.rfind("/") + 1] or "/")
    plain = not parts.query and parts.scheme in DEFAULT_PORTS and "//" not in parts.path
    for href in hrefs:
        href = href.strip()
        if plain and href and _simple(href):
            url = (origin if href[0] == "/" else here) + href
            found.append(url.partition("#")[0])
            continue
        try:
            url = urljoin(base, href).partition("#")[0]
        except ValueError:  # a bad port or IPv6 literal
            continue
        if url[:8].lower().startswith(("http://", "https://")) and check_url(url) is None:
            found.append(url)
    return found


def _simple(href: str) -> bool:
    """An href that joins by concatenation: an absolute path (not ``//host``) or a relative
    one without a scheme, with no dot segment, empty segment, backslash, query, parameter or
    space to interpret."""
    first = href[0]
    if first == "/":
        if href.startswith("//"):
            return False
    elif first in ".?#" or ":" in href.partition("/")[0]:
        return False
    return (
        "/." not in href
        and "//" not in href
        and ";" not in href
        and "\\" not in href
        and "?" not in href
        and " " not in href
        and href.isprintable()
    )


def _looks_normal(url: str) -> bool:
    """A cheap test for the common case, a URL already in normal form: ``http(s)://`` in
    lowercase, a lowercase host without user info or default port, a path, no fragment."""
    if url.startswith("http://"):
        start, default = 7, ":80"
    elif url.startswith("https://"):
        start, default = 8, ":443"
    else:
        return False
    end = url.find("/", start)
    if end < 0 or "#" in url:
        return False
    netloc = url[start:end]
    if not netloc or "@" in netloc or "[" in netloc or netloc.endswith((default, ":")):
        return False
    return netloc == netloc.lower()


def origins_for_host(value: str) -> frozenset[Origin]:
    """The origins one ``--allow-host`` value stands for.

    ``example.com``: http on port 80 and https on 443; ``example.com:8080``: http and https
    on that port; ``https://example.com:8443``: that origin only. Raises ``ValueError``.
    """
    if "://" in value:
        origin = origin_of(value)
        if origin is None:
            raise ValueError(f"not an http(s) origin: {value!r}")
        return frozenset({origin})
    probe = origin_of(f"http://{value}")
    if probe is None or "/" in value or "@" in value:
        raise ValueError(f"not a host name (or host:port): {value!r}")
    host = probe[1]
    if ":" in value.rpartition("]")[2]:  # a port was given
        return frozenset({("http", host, probe[2]), ("https", host, probe[2])})
    return frozenset({("http", host, 80), ("https", host, 443)})


def parse_allowed(values: Iterable[str]) -> frozenset[Origin]:
    """The union of :func:`origins_for_host` over ``values``."""
    found: set[Origin] = set()
    for value in values:
        found |= origins_for_host(value.strip())
    return frozenset(found)


def _twins(origin: Origin) -> frozenset[Origin]:
    """An http origin on the default port comes with its https twin on 443: the redirect a
    site that moved to https answers with. Nothing else is added."""
    scheme, host, port = origin
    if scheme == "http" and port == 80:
        return frozenset({origin, ("https", host, 443)})
    return frozenset({origin})


@dataclass(frozen=True)
class CrawlLimits:
    """The bounds of a crawl.

    ``origins`` are the (scheme, host, port) triples it may fetch from; build them with
    :meth:`for_urls`. ``follow_external`` lifts that bound (any http(s) origin).
    """

    origins: frozenset[Origin]
    follow_external: bool = False
    max_pages: int | None = None  # URLs taken from the sitemap(s), file or links
    max_bytes: int = 1024 * 1024  # per page body
    max_redirects: int = 5
    timeout: float = 10.0  # seconds per request (aiohttp's timeout)
    concurrency: int = 64  # connections (and block instances) at once
    # sitemaps: bytes per sitemap document, seconds spent waiting for one document's bytes
    # (time the crawl holds the reader back is not counted), characters in one <loc>
    sitemap_max_bytes: int = 50 * 1024 * 1024
    sitemap_timeout: float = 120.0
    max_loc: int = 8192
    robots: bool = True  # read and honour robots.txt
    robots_max_bytes: int = 512 * 1024  # a longer robots.txt is read up to here

    @classmethod
    def for_urls(cls, *urls: str, allow: Iterable[str] = (), **bounds: object) -> CrawlLimits:
        """Limits that allow the origins of ``urls`` (an http one on port 80 with its https
        twin) and those of ``allow`` (``--allow-host`` values); ``bounds`` are the other
        fields.

        >>> CrawlLimits.for_urls("http://127.0.0.1:8080/sitemap.xml").allows("http://127.0.0.1:8081/")
        False
        """
        origins: set[Origin] = set(parse_allowed(allow))
        for url in urls:
            origin = origin_of(url)
            if origin is None:
                raise ValueError(f"not an http(s) URL: {url!r}")
            origins |= _twins(origin)
        return cls(frozenset(origins), **bounds)  # type: ignore[arg-type]

    def allows(self, url: str) -> bool:
        """Whether ``url`` may be fetched: an http(s) URL of an allowed origin."""
        origin = origin_of(url)
        if origin is None:
            return False
        return self.follow_external or origin in self.origins

    def with_origins_of(self, urls: Iterable[str]) -> CrawlLimits:
        """These limits, also allowing the origins of ``urls`` (a URL file's)."""
        extra: set[Origin] = set()
        for url in urls:
            origin = origin_of(url)
            if origin is not None:
                extra |= _twins(origin)
        return replace(self, origins=self.origins | extra)
