r"""The HTTP client of the crawl's page requests: one ``get`` behind two implementations.

- ``"httptools"`` (:class:`~.http1.HttpClient`, the default when httptools is installed: it
  is in the ``crawl`` extra): keep-alive HTTP/1.1 connections on asyncio protocols, each
  answer parsed by httptools (llhttp, in C). Chosen by measurement: the hand-written crawl of
  ``benchmarks/crawl.py`` (``hand_written(..., http_client=...)``), 2,000 pages 64 at once,
  spent ~155 us of CPU a page with it and ~285 us with aiohttp's client;
- ``"aiohttp"`` (:class:`AiohttpClient`): the same ``get`` over an ``aiohttp.ClientSession``,
  the fallback. aiohttp also reads the sitemaps and robots.txt, which stream or are read once
  per origin.

What ``get`` does, either way: one GET of an ``http(s)`` URL, no redirect followed (the
caller checks each hop against its allow-list), ``Accept-Encoding: gzip, deflate`` with the
body decoded; the body of a 2xx answer kept, bounded by ``max_bytes`` (the announced
``Content-Length`` and the bytes decoded both count: a small gzip that inflates past the
bound is refused as it inflates); the body of any other answer dropped. Failures are
:class:`ClientError`\ s: :class:`RequestTimeout`, :class:`ConnectionFailed` (either may answer
on another attempt), :class:`BodyTooLarge`, :class:`BadResponse`.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Mapping
from typing import Protocol

import aiohttp

__all__ = [
    "CLIENTS",
    "DEFAULT_CLIENT",
    "AiohttpClient",
    "Answer",
    "BadResponse",
    "BodyTooLarge",
    "ClientError",
    "ConnectionFailed",
    "PageClient",
    "RequestTimeout",
    "content_type_of",
]

#: the page clients this installation has (``--http-client``), the default first
CLIENTS = (
    ("httptools", "aiohttp") if importlib.util.find_spec("httptools") is not None else ("aiohttp",)
)
DEFAULT_CLIENT = CLIENTS[0]

DROPPED_BODY_MAX = 64 * 1024  # bytes of a non-2xx body read to keep its connection


class ClientError(Exception):
    """A GET that gave no answer; ``retryable``: another attempt may succeed."""

    retryable = False


class RequestTimeout(ClientError):
    """The answer did not arrive whole within the request's time."""

    retryable = True


class ConnectionFailed(ClientError):
    """No connection, or it was lost before the answer was whole (``before_answer``: before
    any byte of it)."""

    retryable = True

    def __init__(self, message: str, *, before_answer: bool = False) -> None:
        super().__init__(message)
        self.before_answer = before_answer


class BodyTooLarge(ClientError):
    """A 2xx body longer than ``max_bytes`` (announced, received or decoded)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class BadResponse(ClientError):
    """An answer that is not HTTP/1.x as it should be (a bad status line, header or
    chunk, headers past the bounds, an encoding that was not asked for)."""


class Answer:
    """A server's answer: ``headers`` maps lowercase names to values (repeated headers
    joined by ``", "``); ``body`` is empty unless the status is 2xx."""

    __slots__ = ("body", "charset", "content_type", "headers", "status")

    def __init__(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        content_type: str,
        charset: str | None,
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.content_type = content_type
        self.charset = charset


class PageClient(Protocol):
    """What the crawl asks of a client (see the module docstring)."""

    async def get(self, url: str, *, max_bytes: int) -> Answer: ...


def content_type_of(value: str | None) -> tuple[str, str | None]:
    """The media type (lowercase; ``application/octet-stream`` when absent, as aiohttp
    says) and the charset of a ``Content-Type`` header."""
    if not value:
        return "application/octet-stream", None
    kind, _, params = value.partition(";")
    charset = None
    for param in params.split(";"):
        name, _, given = param.partition("=")
        if name.strip().lower() == "charset":
            charset = given.strip().strip('"') or None
    return kind.strip().lower() or "application/octet-stream", charset


class AiohttpClient:
    """:meth:`HttpClient.get` over an ``aiohttp.ClientSession`` (which bounds connections
    and time); the session stays the caller's to close."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def get(self, url: str, *, max_bytes: int) -> Answer:
        try:
            async with self.session.get(url, allow_redirects=False) as resp:
                status = resp.status
                body = b""
                if 200 <= status < 300:
                    body = await _read_bounded(resp, max_bytes)
                headers: dict[str, str] = {}
                for name, value in resp.headers.items():
                    key = name.lower()
                    known = headers.get(key)
                    headers[key] = value if known is None else f"{known}, {value}"
                return Answer(status, headers, body, resp.content_type, resp.charset)
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
            raise RequestTimeout("timeout") from None
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            # a payload error is a body cut short (or one that does not decode): lost
            # connections are what cuts bodies short, and another attempt may read it whole
            raise ConnectionFailed(f"connection lost: {exc}") from None
        except aiohttp.ClientError as exc:
            raise BadResponse(f"bad response: {type(exc).__name__}") from None


async def _read_bounded(resp: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The decoded body, at most ``max_bytes`` (a gzip bomb is cut as it inflates)."""
    length = resp.content_length
    if length is not None and length > max_bytes:
        raise BodyTooLarge("too large", resp.status)
    body = bytearray()
    async for chunk in resp.content.iter_any():
        body += chunk
        if len(body) > max_bytes:
            raise BodyTooLarge("too large", resp.status)
    return bytes(body)
