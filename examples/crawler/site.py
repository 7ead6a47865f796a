"""An embedded web site to crawl: generated from a seed, served on 127.0.0.1, answers known.

Every page, link and word is drawn from ``random.Random(seed)``, so the same
:class:`SiteConfig` always gives the same site, and :meth:`EmbeddedSite.expected` can say
exactly what a correct crawl must find (pages ok, failures by reason, words, links, the top
words). The site misbehaves the way real ones do:

- ``/sitemap.xml`` is a sitemap index; its child sitemaps (``/sitemaps/N.xml``) are sent in
  small chunks, optionally with a pause between them, so that a streaming reader can start
  crawling before a sitemap has arrived whole;
- each page answers after ``latency`` seconds; a few *slow* pages take ``slow_latency``;
- a few URLs answer 404 (*missing*), 500 (*broken*), or 503 once or twice before they
  answer 200 (*flaky*: a crawler that retries gets them);
- *moved* URLs (``/old/N``) redirect (301) to their page; *looping* ones redirect to
  themselves; *away* ones (``/away/N``) redirect to the same page under another host name
  (``localhost`` instead of ``127.0.0.1``: another host for the crawler, the same server);
- *external* URLs are listed under that other host name;
- *huge* pages are larger than a crawler's default page-size bound;
- over ``rate_limit`` requests per second it answers 429 with ``Retry-After``;
- ``/malformed.xml`` is a sitemap cut short, for a crawler's error message.

Use it as an async context manager::

    async with EmbeddedSite(SiteConfig(pages=200)) as site:
        print(site.sitemap_url)          # http://127.0.0.1:PORT/sitemap.xml
        print(site.expected().ok)
"""

from __future__ import annotations

import asyncio
import heapq
import random
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web

__all__ = ["EmbeddedSite", "Expected", "SiteConfig", "tokenize"]

#: The words pages are written with; the first ones are the most frequent (Zipf).
VOCABULARY = (  # noqa: SIM905 - a paragraph reads better than 130 quoted words
    "stream graph node item block window data flow async task river cloud light stone "
    "paper market garden signal engine harbor forest winter summer bridge circle silver "
    "answer bottle candle dragon ember feather glacier hollow island jungle kettle lantern "
    "meadow needle orchard pebble quartz ribbon saddle timber velvet walnut yonder zephyr "
    "amber basket canyon desert echo fabric gravel horizon ivory jasmine kernel ladder "
    "marble nectar oyster pepper quiver rocket shadow thunder umbrella valley willow anchor "
    "beacon copper dune falcon granite hazel iris jade lilac mango nutmeg olive prairie "
    "quill raven saffron tulip vessel wander apple cedar delta fern grove heron lemon maple "
    "ocean plume reef sage tide violet wren alder birch coral dusk flint gale heath inlet "
    "juniper kelp lotus moss nova opal pine rain slate thorn vine wave"
).split()


def tokenize(text: str) -> list[str]:
    """The words of ``text`` as the site counts them (runs of letters, lowercased)."""
    out: list[str] = []
    word: list[str] = []
    for ch in text.lower():
        if ch.isalpha():
            word.append(ch)
        elif word:
            out.append("".join(word))
            word = []
    if word:
        out.append("".join(word))
    return out


@dataclass(frozen=True)
class SiteConfig:
    """What site to generate and how it behaves. Equal configs give equal sites."""

    pages: int = 2000
    seed: int = 1
    latency: float = 0.020  # seconds before a page answers
    slow_latency: float = 0.200  # seconds, for the slow pages
    rate_limit: float | None = None  # requests per second before 429; None: no limit
    retry_after: int = 1  # seconds, the Retry-After of a 429
    sitemap_chunk: int = 500  # URLs per child sitemap
    sitemap_pause: float = 0.0  # seconds between two chunks of a child sitemap
    huge_bytes: int = 3 * 1024 * 1024  # size of a huge page
    # how many listed URLs of each kind, per thousand (the rest are plain pages)
    per_mille: tuple[tuple[str, int], ...] = (
        ("slow", 20),
        ("missing", 30),
        ("broken", 10),
        ("flaky", 20),
        ("moved", 20),
        ("loop", 3),
        ("away", 5),
        ("external", 10),
        ("huge", 2),
        ("private", 10),
    )


@dataclass(frozen=True)
class Page:
    """One listed URL of the site and what it answers."""

    number: int
    kind: str
    path: str  # the path listed in the sitemap (under ``host`` or ``other_host``)
    words: tuple[str, ...]  # the words a crawler should count, in order
    links: int
    body: bytes  # what the page answers with (empty for error kinds)
    fails: int = 0  # flaky: how many 503s before a 200
    layer: int | None = None  # its depth from the root in the link graph (None: not in it)
    anchors: tuple[Anchor, ...] = ()  # its links, in page order


@dataclass(frozen=True)
class Anchor:
    """A link as a page writes it, and what it leads to: a path of this site, or a URL of
    another origin."""

    href: str
    target: str


@dataclass(frozen=True)
class Expected:
    """What a correct crawl of the site finds."""

    listed: int  # URLs in the sitemap (or the first max_pages of them)
    ok: int
    failed: dict[str, int]  # reason -> pages
    skipped: dict[str, int]  # reason -> pages (not fetched on purpose: off-origin, robots.txt)
    words: int
    links: int
    bytes: int
    top_words: list[tuple[str, int]]  # the ten most common, ties by word


@dataclass
class SiteStats:
    """What the server saw (for tests and the benchmark)."""

    requests: int = 0
    rate_limited: int = 0
    robots: int = 0  # robots.txt requests
    by_status: Counter[int] = field(default_factory=Counter)
    by_host: Counter[str] = field(default_factory=Counter)  # the Host header's name
    by_path: Counter[str] = field(default_factory=Counter)  # requests of each path
    first_page_at: float | None = None  # time.monotonic() of the first page request
    sitemap_sent_at: float | None = None  # ... when the last child sitemap was sent whole


def _render(title: list[str], paragraphs: list[list[str]], anchors: list[tuple[str, str]]) -> str:
    head_title = " ".join(title)
    parts = [
        "<!doctype html>\n<html><head><meta charset='utf-8'>",
        f"<title>{head_title}</title>",
        # words inside script, style and comments are not text: a crawler must not count them
        "<script>var zzscript = 'ignored words here';</script>",
        "<style>.zzstyle { color: red }</style>",
        f"</head><body><h1>{head_title}</h1>",
    ]
    for para in paragraphs:
        # an entity between two words: "&amp;" is punctuation, not a word
        half = len(para) // 2
        parts.append(f"<p>{' '.join(para[:half])} &amp; {' '.join(para[half:])}.</p>")
    parts.append("<!-- zzcomment not counted -->\n<ul>")
    for href, text in anchors:
        parts.append(f'<li><a href="{href}">{text}</a></li>')
    parts.append("</ul></body></html>\n")
    return "\n".join(parts)


ROOT = "/"
#: the paths a kind of listed URL has (the rest are /page/N)
_PATHS = {
    "moved": "/old/{}",
    "loop": "/loop/{}",
    "away": "/away/{}",
    "missing": "/gone/{}",
    "broken": "/broken/{}",
    "private": "/private/{}",
}
#: kinds whose pages link on to new pages when they are crawled with --follow
_PARENTS = ("ok", "slow", "flaky", "moved")
#: links to other origins: another host, another scheme and port, another port
_OFF_ORIGIN = ("http://localhost/l{}/{}", "https://127.0.0.1/l{}/{}", "http://127.0.0.1:1/l{}/{}")
CHAIN = 25  # pages in the deep chain of the link graph


def _href(target: str, kind_of_page: str, rng: random.Random) -> str:
    """One of the ways a page may write a link to ``target`` (a path of this site)."""
    form = rng.random()
    if form < 0.1:
        return f"{target}#part{rng.randrange(3)}"
    if target.startswith("/page/") and kind_of_page in ("ok", "slow", "flaky", "moved", "huge"):
        number = target.rpartition("/")[2]
        if form < 0.2:
            return number  # relative to /page/M
        if form < 0.25:
            return f"./{number}"
        if form < 0.3:
            return f"/page/../page/{number}"
    return target


def generate(config: SiteConfig) -> tuple[list[Page], Page]:
    """The listed URLs of the site, in sitemap order, and the root page ``/``.

    The pages also form a link graph for a crawl that follows links from ``/``: each listed
    page but the *external* ones has a *layer* (its depth from the root), and every link goes
    from a page of layer ``d`` to a page of layer ``d + 1`` (or to an off-origin URL of that
    layer), except links back to the root, to the root's own links and to the page itself.
    So whatever order a crawl takes, it finds each page at the same depth (the root and its
    links it has always seen before it finds them again): the totals of a correct crawl do
    not depend on timing, which is what lets :meth:`EmbeddedSite.expected_follow` state them.
    Cycles: the links back; a deep chain: ``CHAIN`` pages one after the other.
    """
    rng = random.Random(config.seed)
    weights = [1 / (rank + 1) ** 1.1 for rank in range(len(VOCABULARY))]
    cum: list[float] = []
    acc = 0.0
    for w in weights:
        acc += w
        cum.append(acc)

    def words(n: int) -> list[str]:
        return rng.choices(VOCABULARY, cum_weights=cum, k=n)

    n = config.pages
    kinds = ["ok"] * n
    slots = list(range(n))
    rng.shuffle(slots)
    taken = 0
    for kind, per_mille in config.per_mille:
        count = max(1, n * per_mille // 1000) if per_mille else 0
        for i in slots[taken : taken + count]:
            kinds[i] = kind
        taken += count
    paths = [_PATHS.get(kind, "/page/{}").format(i) for i, kind in enumerate(kinds)]

    # the link graph: a tree from the root (the deep chain hangs off a layer-1 page), then
    # links across a layer; the tree decides each page's layer
    order = [i for i in slots if kinds[i] != "external"]
    rng.shuffle(order)
    layer: dict[int, int] = {}
    children: dict[int, list[int]] = {i: [] for i in range(n)}
    top = order[: min(8, len(order))]
    rest = order[len(top) :]
    for i in top:
        layer[i] = 1
    parents = [i for i in top if kinds[i] in _PARENTS]
    chain = [i for i in rest if kinds[i] == "ok"][:CHAIN] if parents else []
    if chain:
        chain_set = set(chain)
        rest = [i for i in rest if i not in chain_set]
        previous = parents[0]
        for i in chain:
            children[previous].append(i)
            layer[i] = layer[previous] + 1
            previous = i
    queue = [i for i in top if kinds[i] in _PARENTS and i not in chain]
    while rest:
        if not queue:  # no page left to hang pages from: the root takes them
            for i in rest:
                layer[i] = 1
                top.append(i)
            break
        parent = queue.pop(0)
        count = rng.randint(2, 8)
        taken, rest = rest[:count], rest[count:]
        for i in taken:
            children[parent].append(i)
            layer[i] = layer[parent] + 1
            if kinds[i] in _PARENTS:
                queue.append(i)
    by_layer: dict[int, list[int]] = {}
    for i, d in layer.items():
        by_layer.setdefault(d, []).append(i)
    top_paths = [paths[i] for i in top]

    def anchors_of(i: int | None, d: int, kind: str) -> list[tuple[str, str, str]]:
        """(href, text, target) of a page of layer ``d``: target is a path of this site
        or, for another origin, the URL itself."""
        targets: list[str] = []
        if i is None:
            targets += top_paths
        elif kind in _PARENTS:
            targets += [paths[c] for c in children[i]]
            if chain and i in chain:
                targets += [ROOT]  # the end of the chain leads back
            nxt = by_layer.get(d + 1, [])
            targets += [paths[rng.choice(nxt)] for _ in range(rng.randint(0, 2)) if nxt]
        if i is not None:
            back = [ROOT, paths[i], *top_paths]
            targets += [rng.choice(back) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.4 and kind in (*_PARENTS, "root"):
            url = rng.choice(_OFF_ORIGIN).format(d + 1, rng.randrange(4))
            targets.append(url)
        rng.shuffle(targets)
        return [(_href(t, kind, rng), words(1)[0], t) for t in targets]

    def html_page(i: int | None, kind: str) -> tuple[bytes, tuple[str, ...], tuple[Anchor, ...]]:
        title = words(rng.randint(2, 5))
        paragraphs = [words(rng.randint(20, 120)) for _ in range(rng.randint(1, 4))]
        d = 0 if i is None else layer.get(i, 0)
        anchors = anchors_of(i, d, kind)
        html = _render(title, paragraphs, [(h, t) for h, t, _ in anchors])
        counted = [*title, *title, *(w for p in paragraphs for w in p), *(t for _, t, _ in anchors)]
        return html.encode(), tuple(counted), tuple(Anchor(h, t) for h, _, t in anchors)

    pages: list[Page] = []
    for i, kind in enumerate(kinds):
        if kind in ("missing", "broken", "loop"):
            pages.append(Page(i, kind, paths[i], (), 0, b"", layer=layer.get(i)))
            continue
        body, counted, anchors = html_page(i, kind)
        if kind == "huge":
            text = " ".join(words(50))
            filler = f"<p>{text}</p>\n"
            repeat = config.huge_bytes // len(filler) + 1
            body = body.replace(b"</body>", (filler * repeat).encode() + b"</body>")
            counted += tuple(tokenize(text) * repeat)
        fails = rng.randint(1, 2) if kind == "flaky" else 0
        pages.append(
            Page(
                i,
                kind,
                paths[i],
                counted,
                len(anchors),
                body,
                fails,
                layer=layer.get(i),
                anchors=anchors,
            )
        )
    body, counted, anchors = html_page(None, "root")
    root = Page(-1, "root", ROOT, counted, len(anchors), body, layer=0, anchors=anchors)
    return pages, root


ROBOTS_TXT = """\
# the embedded site's robots.txt
User-agent: otherbot
Crawl-delay: 30
Disallow: /

User-agent: *
Disallow: /private/
"""


class _Tally:
    """Totals folded one outcome at a time, as a crawl's summary counts them."""

    def __init__(self) -> None:
        self.ok = 0
        self.failed: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.words: Counter[str] = Counter()
        self.links = 0
        self.bytes = 0

    def add(self, outcome: tuple[str, str, Page | None]) -> None:
        what, reason, page = outcome
        if what == "failed":
            self.failed[reason] += 1
        elif what == "skipped":
            self.skipped[reason] += 1
        else:
            assert page is not None
            self.ok += 1
            self.words.update(page.words)
            self.links += page.links
            self.bytes += len(page.body)

    def expected(self, listed: int) -> Expected:
        return Expected(
            listed=listed,
            ok=self.ok,
            failed=dict(self.failed),
            skipped=dict(self.skipped),
            words=sum(self.words.values()),
            links=self.links,
            bytes=self.bytes,
            top_words=top_words(self.words),
        )


class EmbeddedSite:
    """The generated site, served on ``127.0.0.1`` at a free port while the context is open.

    ``base_url`` is ``http://127.0.0.1:PORT``; ``other_base_url`` the same server under the
    host name ``localhost``, which a crawler restricted to 127.0.0.1 must treat as another origin.
    """

    def __init__(self, config: SiteConfig | None = None, *, port: int = 0) -> None:
        self.config = config or SiteConfig()
        self._wanted_port = port  # 0: any free one; a taken one falls back to any
        self.pages, self.root = generate(self.config)
        self.stats = SiteStats()
        self.port = 0
        self._by_path: dict[str, Page] = {ROOT: self.root}
        for page in self.pages:
            self._by_path[page.path] = page
            if page.kind in ("moved", "away"):
                self._by_path[f"/page/{page.number}"] = page
        self._attempts: Counter[str] = Counter()
        self._tokens = float(self.config.rate_limit or 0)
        self._refilled = time.monotonic()
        self._runner: web.ServerRunner | None = None

    # -- addresses ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def other_base_url(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def sitemap_url(self) -> str:
        return f"{self.base_url}/sitemap.xml"

    def url_of(self, page: Page) -> str:
        """The URL the sitemap lists for ``page``."""
        base = self.other_base_url if page.kind == "external" else self.base_url
        return base + page.path

    def listed_urls(self) -> list[str]:
        return [self.url_of(p) for p in self.pages]

    # -- what a crawl must find ----------------------------------------------------------

    def expected(
        self,
        *,
        follow_external: bool = False,
        max_pages: int | None = None,
        max_bytes: int = 1024 * 1024,
        max_redirects: int = 5,
        robots: bool = True,
    ) -> Expected:
        """What a crawl of the sitemap that retries 429, 5xx (at least twice) and timeouts
        must report. ``robots``: the crawl honours robots.txt."""
        found = _Tally()
        listed = self.pages[:max_pages] if max_pages is not None else self.pages
        for page in listed:
            found.add(self._outcome(page, follow_external, max_bytes, max_redirects, robots))
        return found.expected(len(listed))

    def expected_follow(
        self,
        depth: int | None = None,
        *,
        from_sitemap: bool = False,
        max_bytes: int = 1024 * 1024,
        max_redirects: int = 5,
        robots: bool = True,
    ) -> Expected:
        """What a crawl that follows links from the root ``/`` must report: the root has
        depth 0, a link found on a page of depth ``d`` has depth ``d + 1``, pages of depth
        up to ``depth`` are fetched (``None``: no bound), each URL once (by its normalised
        form), on this origin only: links to other origins, and those robots.txt refuses,
        count as skipped. ``listed`` is the number of URLs the crawl takes up.
        ``from_sitemap``: the crawl starts from every URL of the sitemap instead (all at
        depth 0; the root is then found at depth 1); exact for ``depth`` 0 and ``None``
        only: a crawl that streams the sitemap may find a listed URL as a link, one level
        deeper, before the sitemap lists it.

        Exact whatever the order of the crawl (see :func:`generate`); a link beyond the
        depth bound is not a URL of the crawl.
        """
        found = _Tally()
        starts = [self._target(p) for p in self.pages] if from_sitemap else [ROOT]
        seen = set(starts)
        frontier: list[tuple[str, int]] = [(t, 0) for t in starts]
        for target, d in frontier:  # grows while it is read: breadth first
            page = self._by_path.get(target) if target.startswith("/") else None
            outcome = (
                ("skipped", "off-origin", None)
                if page is None
                else self._outcome(page, False, max_bytes, max_redirects, robots)
            )
            found.add(outcome)
            if outcome[0] != "ok" or (depth is not None and d >= depth):
                continue
            assert page is not None
            for anchor in page.anchors:
                if anchor.target not in seen:
                    seen.add(anchor.target)
                    frontier.append((anchor.target, d + 1))
        return found.expected(len(frontier))

    def _target(self, page: Page) -> str:
        """What a link to ``page`` leads to in :meth:`expected_follow`: its path, or its URL
        when it is listed under the other host name."""
        return self.url_of(page) if page.kind == "external" else page.path

    def _outcome(
        self,
        page: Page,
        follow_external: bool,
        max_bytes: int,
        max_redirects: int,
        robots: bool,
    ) -> tuple[str, str, Page | None]:
        """("ok" | "failed" | "skipped", reason, the page whose body is counted)."""
        kind = page.kind
        if kind in ("external", "away") and not follow_external:
            return ("skipped", "off-origin", None)
        if kind == "private" and robots:
            return ("skipped", "robots.txt", None)
        if kind == "missing":
            return ("failed", "HTTP 404", None)
        if kind == "broken":
            return ("failed", "HTTP 500", None)
        if kind == "loop" or (kind in ("moved", "away") and max_redirects < 1):
            return ("failed", "too many redirects", None)
        if len(page.body) > max_bytes:
            return ("failed", "too large", None)
        return ("ok", "", page)

    # -- serving -------------------------------------------------------------------------

    async def __aenter__(self) -> EmbeddedSite:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", self._wanted_port))
        except OSError:
            if not self._wanted_port:
                raise
            sock.bind(("127.0.0.1", 0))  # the wanted port is taken
        self.port = sock.getsockname()[1]
        server = web.Server(self._handle, access_log=None)
        self._runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _over_limit(self) -> bool:
        limit = self.config.rate_limit
        if not limit:
            return False
        now = time.monotonic()
        self._tokens = min(limit, self._tokens + (now - self._refilled) * limit)
        self._refilled = now
        if self._tokens < 1:
            return True
        self._tokens -= 1
        return False

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        stats = self.stats
        stats.requests += 1
        stats.by_host[(request.host or "").rsplit(":", 1)[0]] += 1
        stats.by_path[request.path] += 1
        try:
            response = await self._answer(request)
        except web.HTTPException as redirect:
            stats.by_status[redirect.status] += 1
            raise
        stats.by_status[response.status] += 1
        return response

    async def _answer(self, request: web.BaseRequest) -> web.StreamResponse:
        if self._over_limit():
            self.stats.rate_limited += 1
            return web.Response(
                status=429,
                text="slow down\n",
                headers={"Retry-After": str(self.config.retry_after)},
            )
        path = request.path
        if path == "/robots.txt":
            self.stats.robots += 1
            return web.Response(text=ROBOTS_TXT, content_type="text/plain")
        if path == "/sitemap.xml":
            return self._sitemap_index()
        if path.startswith("/sitemaps/") and path.endswith(".xml"):
            return await self._child_sitemap(request, path)
        if path == "/malformed.xml":  # cut short in the middle of a tag
            first = f"<url><loc>{self.base_url}/page/0</loc></url>"
            return web.Response(
                text=f"<?xml version='1.0'?>\n<urlset>{first}\n<url><lo",
                content_type="application/xml",
            )
        page = self._by_path.get(path)
        if self.stats.first_page_at is None:
            self.stats.first_page_at = time.monotonic()
        if page is None:
            return web.Response(status=404, text="not found\n")
        kind = page.kind
        if kind == "moved" and path == page.path:
            raise web.HTTPMovedPermanently(f"/page/{page.number}")
        if kind == "away" and path == page.path:
            raise web.HTTPFound(f"{self.other_base_url}/page/{page.number}")
        if kind == "loop":
            raise web.HTTPFound(path)
        await asyncio.sleep(self.config.slow_latency if kind == "slow" else self.config.latency)
        if kind == "missing":
            return web.Response(status=404, text="not found\n")
        if kind == "broken":
            return web.Response(status=500, text="internal error\n")
        if kind == "flaky":
            attempt = self._attempts[path]
            self._attempts[path] = attempt + 1
            if attempt % (page.fails + 1) < page.fails:  # fails, (fails,) then answers
                return web.Response(status=503, text="try again\n")
        return web.Response(body=page.body, content_type="text/html", charset="utf-8")

    def _sitemap_index(self) -> web.Response:
        chunk = self.config.sitemap_chunk
        children = -(-len(self.pages) // chunk)
        lines = ['<?xml version="1.0" encoding="UTF-8"?>']
        lines.append('<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">')
        for i in range(children):
            lines.append(f"  <sitemap><loc>{self.base_url}/sitemaps/{i}.xml</loc></sitemap>")
        lines.append("</sitemapindex>\n")
        return web.Response(text="\n".join(lines), content_type="application/xml")

    async def _child_sitemap(self, request: web.BaseRequest, path: str) -> web.StreamResponse:
        try:
            i = int(path[len("/sitemaps/") : -len(".xml")])
        except ValueError:
            return web.Response(status=404, text="not found\n")
        chunk = self.config.sitemap_chunk
        pages = self.pages[i * chunk : (i + 1) * chunk]
        if not pages:
            return web.Response(status=404, text="not found\n")
        response = web.StreamResponse(headers={"Content-Type": "application/xml"})
        await response.prepare(request)
        await response.write(
            b'<?xml version="1.0" encoding="UTF-8"?>\n'
            b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        )
        for start in range(0, len(pages), 50):
            lines = "".join(
                f"  <url><loc>{self.url_of(p)}</loc></url>\n" for p in pages[start : start + 50]
            )
            await response.write(lines.encode())
            if self.config.sitemap_pause:
                await asyncio.sleep(self.config.sitemap_pause)
        await response.write(b"</urlset>\n")
        await response.write_eof()
        if (i + 1) * chunk >= len(self.pages):
            self.stats.sitemap_sent_at = time.monotonic()
        return response


def top_words(counts: Counter[str], n: int = 10) -> list[tuple[str, int]]:
    """The ``n`` most common words, ties broken alphabetically (so results are stable)."""
    return heapq.nsmallest(n, counts.items(), key=lambda kv: (-kv[1], kv[0]))


def main(argv: list[str] | None = None) -> int:
    """``python -m examples.crawler.site``: serve the site until stdin closes or Ctrl-C.

    Prints the sitemap URL as its first line, so that another process can crawl it.
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m examples.crawler.site", description=main.__doc__
    )
    parser.add_argument("--pages", type=int, default=SiteConfig.pages)
    parser.add_argument("--seed", type=int, default=SiteConfig.seed)
    parser.add_argument("--latency", type=float, default=SiteConfig.latency, help="seconds")
    parser.add_argument("--rate-limit", type=float, default=None, help="requests/s before 429")
    args = parser.parse_args(argv)
    config = SiteConfig(
        pages=args.pages, seed=args.seed, latency=args.latency, rate_limit=args.rate_limit
    )

    async def serve() -> None:
        async with EmbeddedSite(config) as site:
            print(site.sitemap_url, flush=True)
            loop = asyncio.get_running_loop()
            closed = asyncio.Event()

            def wait_for_eof() -> None:  # a daemon thread: never holds up the exit
                sys.stdin.read()
                loop.call_soon_threadsafe(closed.set)

            threading.Thread(target=wait_for_eof, daemon=True).start()
            await closed.wait()

    try:
        import uvloop

        uvloop.run(serve())
    except ImportError:  # pragma: no cover - uvloop is there on Linux and macOS
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
