"""robots.txt: read once per origin, honoured on every request (``urllib.robotparser``).

:class:`Robots` is what :func:`~.pages.fetch` asks before each request (each redirect hop
included): the rules of that origin's robots.txt, read the first time the origin is asked
about (one request however many pages ask at once), say whether the URL may be fetched, and
its ``Crawl-delay`` (or ``Request-rate``) spaces the requests to that origin.

The robots.txt request itself obeys the crawl's allow-list (each redirect hop), the
per-request timeout and ``limits.robots_max_bytes`` (the rest of a longer file is not read).
What an answer means follows RFC 9309:

- 2xx: its rules (those of the group for this crawler's user agent, else ``*``);
- 4xx other than 429 (no robots.txt): everything may be fetched;
- 5xx, 429, a timeout or a lost connection, after the usual retries (a Retry-After is waited
  out, up to ``pages.MAX_BACKOFF``), or a redirect to an origin the crawl may not touch:
  the origin is *unreachable* and nothing on it is fetched (reason
  ``"robots.txt unreachable"``): a crawler must not take an error for permission.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin
from urllib.robotparser import RobotFileParser

import aiohttp

from .pages import (
    ATTEMPTS,
    MAX_BACKOFF,
    REDIRECT_STATUSES,
    USER_AGENT,
    backoff_delay,
    parse_retry_after,
)
from .urls import DEFAULT_PORTS, CrawlLimits, Origin, check_url, origin_of

__all__ = ["DISALLOWED", "UNREACHABLE", "Robots", "RobotsRules", "robots_url"]

#: the skip reasons a crawl counts pages under
DISALLOWED = "robots.txt"
UNREACHABLE = "robots.txt unreachable"


def robots_url(origin: Origin) -> str:
    scheme, host, port = origin
    shown = f"[{host}]" if ":" in host else host
    if port != DEFAULT_PORTS[scheme]:
        shown = f"{shown}:{port}"
    return f"{scheme}://{shown}/robots.txt"


@dataclass(frozen=True)
class RobotsRules:
    """One origin's robots.txt as it applies to ``agent``: ``parser`` is ``None`` when every
    URL may be fetched (no robots.txt, or no rule for us); ``unreachable`` refuses all."""

    agent: str
    parser: RobotFileParser | None = None
    unreachable: bool = False
    delay: float = 0.0  # seconds between two requests to the origin
    #: the group of rules that applies to ``agent`` (what ``can_fetch`` would look for)
    entry: Any = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, agent: str, text: str) -> RobotsRules:
        parser = RobotFileParser()
        parser.parse(text.splitlines())
        delay = float(parser.crawl_delay(agent) or 0)
        rate = parser.request_rate(agent)
        if rate is not None and rate.requests > 0:
            delay = max(delay, rate.seconds / rate.requests)
        if not _has_rules_for(parser, agent):
            return cls(agent, None, delay=delay)
        return cls(agent, parser, delay=delay, entry=_entry_for(parser, agent))

    def refusal(self, url: str) -> str | None:
        """Why ``url`` may not be fetched (a skip reason), or ``None``.

        A URL whose path and query are plain (letters, digits, ``/_.~-``) is checked against
        the group's rules directly: what ``RobotFileParser.can_fetch`` does after it has
        unquoted, split, joined and quoted the URL again, which leave such a path as it is
        (~10 us of the crawl's CPU a page); any other URL goes through ``can_fetch``.
        """
        if self.unreachable:
            return UNREACHABLE
        parser = self.parser
        if parser is None:
            return None
        entry = self.entry
        if entry is not None and not (parser.disallow_all or parser.allow_all):
            start = url.find("/", url.find("://") + 3)
            path = url[start:] if start >= 0 else "/"
            if _PLAIN_PATH.fullmatch(path):
                return None if entry.allowance(path) else DISALLOWED
        return None if parser.can_fetch(self.agent, url) else DISALLOWED


_PLAIN_PATH = re.compile(r"/[A-Za-z0-9/_.~-]*")


def _entry_for(parser: RobotFileParser, agent: str) -> Any:
    """The group ``can_fetch`` reads for ``agent``: the first that applies, else ``*``'s."""
    for entry in parser.entries:  # type: ignore[attr-defined]
        if entry.applies_to(agent):
            return entry
    return parser.default_entry  # type: ignore[attr-defined]


def _has_rules_for(parser: RobotFileParser, agent: str) -> bool:
    """Whether a group with rules applies to ``agent`` (else checking each URL is wasted)."""
    entries = [*parser.entries]  # type: ignore[attr-defined]
    default = parser.default_entry  # type: ignore[attr-defined]
    for entry in entries:
        if entry.applies_to(agent):
            return bool(entry.rulelines)
    return default is not None and bool(default.rulelines)


class Robots:
    """The robots.txt rules of each origin a crawl fetches from, read once each.

    Lives as long as its event loop (the crawl's per-worker resource), and reads robots.txt
    with ``session``. ``requests`` counts the robots.txt requests made.
    """

    def __init__(
        self, session: aiohttp.ClientSession, limits: CrawlLimits, agent: str = USER_AGENT
    ) -> None:
        self.session = session
        self.limits = limits
        self.agent = agent.partition("/")[0]  # the product token robots.txt groups name
        self.requests = 0
        self._rules: dict[Origin, asyncio.Future[RobotsRules]] = {}
        self._next_turn: dict[Origin, float] = {}

    async def rules(self, origin: Origin) -> RobotsRules:
        """The rules of ``origin``, read on first use (concurrent callers share the read)."""
        while True:
            known = self._rules.get(origin)
            if known is None:
                known = self._rules[origin] = asyncio.get_running_loop().create_future()
                try:
                    rules = await self._read(origin)
                except BaseException:
                    del self._rules[origin]  # cancelled or broken: the next caller reads it
                    known.cancel()
                    raise
                known.set_result(rules)
                return rules
            if not known.done():
                await asyncio.wait([known])  # raises only if this task is cancelled
            if not known.cancelled():
                return known.result()

    async def refusal(self, url: str) -> str | None:
        """Why ``url`` may not be fetched (``"robots.txt"``, ``"robots.txt unreachable"``),
        or ``None``."""
        origin = origin_of(url)
        if origin is None:
            return None
        known = self._rules.get(origin)
        if known is not None and known.done() and not known.cancelled():
            return known.result().refusal(url)
        return (await self.rules(origin)).refusal(url)

    async def wait_turn(self, url: str) -> None:
        """Returns when a request to ``url``'s origin may go, keeping its crawl delay."""
        origin = origin_of(url)
        known = self._rules.get(origin) if origin is not None else None
        if known is None or not known.done() or known.cancelled():
            return
        delay = known.result().delay
        if not delay:
            return
        assert origin is not None
        loop = asyncio.get_running_loop()
        now = loop.time()
        turn = max(now, self._next_turn.get(origin, now))
        self._next_turn[origin] = turn + delay
        if turn > now:
            await asyncio.sleep(turn - now)

    async def _read(self, origin: Origin) -> RobotsRules:
        limits, session = self.limits, self.session
        current = robots_url(origin)
        redirects = 0
        attempt = 1
        while True:
            if check_url(current) is not None or not limits.allows(current):
                return RobotsRules(self.agent, unreachable=True)
            self.requests += 1
            try:
                async with session.get(current, allow_redirects=False) as resp:
                    status = resp.status
                    if status in REDIRECT_STATUSES:
                        location = resp.headers.get("Location")
                        redirects += 1
                        if not location or redirects > limits.max_redirects:
                            return RobotsRules(self.agent, unreachable=True)
                        current = urljoin(current, location)
                        continue
                    if 200 <= status < 300:
                        body = await _read_capped(resp, limits.robots_max_bytes)
                        return RobotsRules.parse(self.agent, body)
                    if status < 400 or (status < 500 and status != 429):
                        return RobotsRules(self.agent)  # no robots.txt: no rules
                    asked = parse_retry_after(resp.headers.get("Retry-After"))
                    wait = backoff_delay(attempt, asked)
            except (asyncio.TimeoutError, aiohttp.ClientError):
                wait = backoff_delay(attempt, None)
            if attempt >= ATTEMPTS or wait > MAX_BACKOFF:
                return RobotsRules(self.agent, unreachable=True)
            attempt += 1
            await asyncio.sleep(wait)


async def _read_capped(resp: aiohttp.ClientResponse, cap: int) -> str:
    """At most ``cap`` bytes of the body, cut at the last whole line when cut at all."""
    body = bytearray()
    while len(body) < cap:
        chunk = await resp.content.readany()
        if not chunk:
            return body.decode("utf-8", errors="replace")
        body += chunk
    del body[cap:]
    cut = body.rfind(b"\n")
    return body[: cut + 1 if cut >= 0 else 0].decode("utf-8", errors="replace")
