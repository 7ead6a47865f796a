"""A small keep-alive HTTP/1.1 client for the crawl's page GETs, on asyncio protocols, with
httptools (llhttp, in C) parsing each answer: what ``client.py`` calls ``"httptools"``.

It keeps the promises of :class:`~.client.PageClient` and bounds everything a server
controls: the whole request takes at most ``timeout`` seconds (connect, send, headers and
body: a server trickling bytes runs it out); the status line and headers at most
``max_header_bytes`` and ``max_headers``; a 2xx body ``max_bytes``, announced, received and
decoded (gzip, deflate); a dropped body (any other status) 64 KiB before the connection is
closed instead of read. A connection is used again only after an answer read whole that did
not ask to close it, at most ``idle_seconds`` after its last answer, and at most
``max_connections`` are open or idle at once. A GET that finds a reused connection closed
by the server before any byte of an answer is sent once more on a new one (a GET may be
repeated). It sends no cookies and no credentials and reads no proxy settings (aiohttp
reads none by default either). What it leaves out: HTTP/2, proxies, pipelining.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
import zlib
from typing import Any
from urllib.parse import quote, urlsplit

from .client import (
    DROPPED_BODY_MAX,
    Answer,
    BadResponse,
    BodyTooLarge,
    ClientError,
    ConnectionFailed,
    RequestTimeout,
    content_type_of,
)

try:  # the C parser of the crawl extra
    import httptools
except ImportError:  # pragma: no cover - httptools is in the crawl extra
    httptools = None  # type: ignore[assignment]

__all__ = ["HttpClient"]


class _Decoder:
    """gzip or deflate, decoded as it arrives, never past a bound."""

    __slots__ = ("_raw", "_zlib")

    def __init__(self, encoding: str) -> None:
        self._raw = encoding == "deflate"  # zlib-wrapped or raw: told by the first bytes
        wbits = 16 + zlib.MAX_WBITS if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        self._zlib: Any = None if self._raw else zlib.decompressobj(wbits)

    def decode(self, data: bytes, room: int) -> bytes | None:
        """At most ``room`` bytes of decoded ``data``; ``None`` when there would be more."""
        if self._zlib is None:
            wrapped = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        out: bytes = self._zlib.decompress(data, room + 1)
        if len(out) > room or self._zlib.unconsumed_tail:
            return None
        return out

    def finish(self, room: int) -> bytes | None:
        if self._zlib is None:
            return b""
        out: bytes = self._zlib.flush()
        return None if len(out) > room else out


class _Connection(asyncio.Protocol):
    """One keep-alive connection, and the answer being read on it (at most one at a time)."""

    def __init__(self, max_header_bytes: int, max_headers: int) -> None:
        assert httptools is not None
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers
        self.closed = False
        self.idle_since = 0.0
        self.waiter: asyncio.Future[Answer] | None = None
        self._reset(0)

    def _reset(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.got_bytes = False  # of this answer
        self.header_bytes = 0
        self.headers: dict[str, str] = {}
        self.headers_done = False
        self.status = 0
        self.keep_alive = False
        self.framed = False  # the body has a length or chunks (else it ends with the connection)
        self.keep_body = False
        self.body: list[bytes] = []
        self.size = 0
        self.decoder: _Decoder | None = None
        self.finished = False

    # -- the request ---------------------------------------------------------------------

    def send(self, request: bytes, waiter: asyncio.Future[Answer], max_bytes: int) -> None:
        self._reset(max_bytes)
        self.waiter = waiter
        assert self.transport is not None
        self.transport.write(request)

    def reusable(self) -> bool:
        return self.finished and self.keep_alive and not self.closed

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, error: ClientError) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self.abort()

    def _answer(self) -> None:
        waiter, self.waiter = self.waiter, None
        self.finished = True
        if waiter is None or waiter.done():
            return
        content_type, charset = content_type_of(self.headers.get("content-type"))
        waiter.set_result(
            Answer(self.status, self.headers, b"".join(self.body), content_type, charset)
        )

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:  # bytes nobody asked for: this connection is not to be trusted
            self.abort()
            return
        self.got_bytes = True
        if not self.headers_done:
            self.header_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if self.waiter is not None:  # not a failure a callback reported already
                self._fail(BadResponse(f"bad response: {exc}"))
            else:
                self.abort()
            return
        if not self.headers_done and self.header_bytes > self.max_header_bytes:
            self._fail(BadResponse(f"bad response: headers over {self.max_header_bytes:,} bytes"))

    def eof_received(self) -> bool:
        return False  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is None:
            return
        if self.headers_done and not self.framed:  # the body ends with the connection
            self._end_of_body()
            return
        message = "connection lost" + (f": {exc}" if exc else "")
        self._fail(ConnectionFailed(message, before_answer=not self.got_bytes))

    # -- httptools callbacks (they never raise: a failure ends the answer) --------------

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(self.headers) >= self.max_headers:
            self._fail(BadResponse(f"bad response: more than {self.max_headers} headers"))
            return
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        known = self.headers.get(key)
        self.headers[key] = text if known is None else f"{known}, {text}"

    def on_headers_complete(self) -> None:
        if self.waiter is None:
            return
        self.headers_done = True
        parser, headers = self.parser, self.headers
        self.status = status = parser.get_status_code()
        self.keep_alive = parser.should_keep_alive()
        self.framed = (
            "content-length" in headers or "chunked" in headers.get("transfer-encoding", "").lower()
        )
        self.keep_body = 200 <= status < 300
        if not self.keep_body:
            return
        length = headers.get("content-length")
        if length is not None and length.strip().isdigit() and int(length) > self.max_bytes:
            self._fail(BodyTooLarge("too large", status))
            return
        encoding = headers.get("content-encoding", "identity").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            self.decoder = _Decoder(encoding)
        elif encoding != "identity":
            self._fail(BadResponse(f"bad response: Content-Encoding {encoding!r}"))

    def on_body(self, data: bytes) -> None:
        if self.waiter is None:
            return
        if not self.keep_body:
            self.size += len(data)
            if self.size > DROPPED_BODY_MAX:  # not worth reading: answer now, close after
                self.keep_alive = False
                self._answer()
                self.abort()
            return
        if self.decoder is not None:
            decoded = self.decoder.decode(data, self.max_bytes - self.size)
            if decoded is None:
                self._fail(BodyTooLarge("too large", self.status))
                return
            data = decoded
        self.size += len(data)
        if self.size > self.max_bytes:
            self._fail(BodyTooLarge("too large", self.status))
            return
        self.body.append(data)

    def on_message_complete(self) -> None:
        if self.waiter is None:
            return
        if self.status < 200:  # 1xx: the answer is still to come
            self.headers_done = False
            self.headers = {}
            return
        self._end_of_body()

    def _end_of_body(self) -> None:
        if self.decoder is not None:
            rest = self.decoder.finish(self.max_bytes - self.size)
            if rest is None:
                self._fail(BodyTooLarge("too large", self.status))
                return
            if rest:
                self.body.append(rest)
        self._answer()


_SAFE = "!#$%&'()*+,/:;=?@[]~-._"
_ORIGINS_KEPT = 4096  # origins whose request line head is remembered

Origin = tuple[str, str, int]


class HttpClient:
    """Keep-alive HTTP/1.1 GETs with httptools (see the module docstring).

    Use it in one event loop; close it with :meth:`aclose`. Example::

        client = HttpClient(user_agent="me/1.0", timeout=10)
        answer = await client.get("http://127.0.0.1:8000/", max_bytes=1 << 20)
        await client.aclose()
    """

    def __init__(
        self,
        *,
        user_agent: str,
        timeout: float,
        max_connections: int = 100,
        idle_seconds: float = 15.0,
        max_header_bytes: int = 64 * 1024,
        max_headers: int = 128,
        ssl: ssl_module.SSLContext | None = None,
    ) -> None:
        if httptools is None:  # pragma: no cover - httptools is in the crawl extra
            raise RuntimeError("HttpClient needs httptools (pip install 'asyncdag[crawl]')")
        if any(ord(c) < 0x20 for c in user_agent):
            raise ValueError(f"control character in user agent {user_agent!r}")
        self.timeout = timeout
        self.max_connections = max_connections
        self.idle_seconds = idle_seconds
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers
        self._ssl = ssl
        self._tail = (
            f"\r\nUser-Agent: {user_agent}\r\nAccept: */*\r\n"
            "Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n"
        ).encode("latin-1")
        self._idle: dict[Origin, list[_Connection]] = {}
        self._idle_count = 0
        self._busy: set[_Connection] = set()
        self._in_use = 0  # requests holding one of the max_connections slots
        self._waiting: list[asyncio.Future[None]] = []
        self._origins: dict[tuple[str, str], tuple[Origin, bytes]] = {}
        self._closed = False
        #: connections opened so far (tests and the benchmark read it)
        self.connections_opened = 0

    async def get(self, url: str, *, max_bytes: int) -> Answer:
        """One GET of ``url``; raises :class:`ClientError` (``ValueError`` for a URL that is
        not ``http(s)://host...``)."""
        if self._closed:
            raise RuntimeError("the client is closed")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        origin, request = self._request(url)
        await self._take_slot(deadline, loop)
        try:
            conn = self._idle_connection(origin, loop)
            if conn is not None:
                try:
                    return await self._exchange(origin, conn, request, max_bytes, deadline, loop)
                except ConnectionFailed as exc:
                    if not exc.before_answer:
                        raise
                    # the server closed a kept-alive connection as we sent on it: a GET may
                    # be sent again, on a new connection
            conn = await self._connect(origin, deadline, loop)
            return await self._exchange(origin, conn, request, max_bytes, deadline, loop)
        finally:
            self._give_slot()

    async def _exchange(
        self,
        origin: Origin,
        conn: _Connection,
        request: bytes,
        max_bytes: int,
        deadline: float,
        loop: asyncio.AbstractEventLoop,
    ) -> Answer:
        waiter: asyncio.Future[Answer] = loop.create_future()
        timer = loop.call_at(deadline, _expire, conn, waiter)
        self._busy.add(conn)
        try:
            conn.send(request, waiter, max_bytes)
            return await waiter
        except asyncio.CancelledError:
            conn.abort()  # half an answer may still come: the connection is done
            raise
        finally:
            timer.cancel()
            self._busy.discard(conn)
            self._release(origin, conn, loop)

    def _release(self, origin: Origin, conn: _Connection, loop: asyncio.AbstractEventLoop) -> None:
        if not conn.reusable() or self._closed:
            conn.abort()
            return
        if self._idle_count >= self.max_connections:
            self._sweep(loop.time())
            if self._idle_count >= self.max_connections:
                conn.abort()
                return
        conn.idle_since = loop.time()
        self._idle.setdefault(origin, []).append(conn)
        self._idle_count += 1

    def _sweep(self, now: float) -> None:
        """Close the idle connections that are closed or expired; forget empty pools."""
        for origin, pool in list(self._idle.items()):
            kept = [c for c in pool if not c.closed and now - c.idle_since < self.idle_seconds]
            for conn in pool:
                if conn not in kept:
                    conn.abort()
            if kept:
                self._idle[origin] = kept
            else:
                del self._idle[origin]
        self._idle_count = sum(len(pool) for pool in self._idle.values())

    def _idle_connection(
        self, origin: Origin, loop: asyncio.AbstractEventLoop
    ) -> _Connection | None:
        pool = self._idle.get(origin)
        if not pool:
            return None
        now = loop.time()
        while pool:
            conn = pool.pop()
            self._idle_count -= 1
            if not conn.closed and now - conn.idle_since < self.idle_seconds:
                return conn
            conn.abort()
        return None

    def _request(self, url: str) -> tuple[Origin, bytes]:
        scheme, netloc, path, query, _ = urlsplit(url)
        known = self._origins.get((scheme, netloc))
        if known is None:
            if len(self._origins) >= _ORIGINS_KEPT:
                self._origins.clear()
            known = self._origins[(scheme, netloc)] = self._origin(url, scheme)
        origin, head = known
        target = (path or "/") + ("?" + query if query else "")
        if not (target.isascii() and target.isprintable()) or " " in target:
            if any(ord(c) < 0x21 or ord(c) == 0x7F for c in target):
                raise ValueError(f"control character or space in URL: {url!r}")
            target = quote(target, safe=_SAFE)
        return origin, b"GET " + target.encode("ascii") + head

    def _origin(self, url: str, scheme: str) -> tuple[Origin, bytes]:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port  # raises ValueError on a bad port
        if scheme not in ("http", "https") or not host:
            raise ValueError(f"not an http(s) URL: {url!r}")
        default = 443 if scheme == "https" else 80
        shown = host if host.isascii() else host.encode("idna").decode("ascii")
        if any(ord(c) < 0x21 or ord(c) == 0x7F for c in shown):
            raise ValueError(f"bad host in URL: {url!r}")
        if ":" in shown:
            shown = f"[{shown}]"
        if port is not None and port != default:
            shown = f"{shown}:{port}"
        head = b" HTTP/1.1\r\nHost: " + shown.encode("ascii") + self._tail
        return (scheme, host, port if port is not None else default), head

    async def _connect(
        self, origin: Origin, deadline: float, loop: asyncio.AbstractEventLoop
    ) -> _Connection:
        scheme, host, port = origin
        secure = scheme == "https"
        context: ssl_module.SSLContext | None = None
        if secure:
            if self._ssl is None:
                self._ssl = ssl_module.create_default_context()
            context = self._ssl
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Connection(self.max_header_bytes, self.max_headers),
                    host,
                    port,
                    ssl=context,
                    server_hostname=host if secure else None,
                ),
                max(0.0, deadline - loop.time()),
            )
        except asyncio.TimeoutError:
            raise RequestTimeout("timeout connecting") from None
        except (OSError, ssl_module.SSLError) as exc:
            raise ConnectionFailed(f"cannot connect: {exc}") from None
        self.connections_opened += 1
        if self._closed:  # closed while this one connected
            conn.abort()
            raise ConnectionFailed("the client is closed")
        return conn

    async def _take_slot(self, deadline: float, loop: asyncio.AbstractEventLoop) -> None:
        if self._in_use >= self.max_connections or self._waiting:
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiting.append(waiter)
            timer = loop.call_at(deadline, _expire_slot, waiter)
            try:
                await waiter  # _give_slot hands its slot over: _in_use stays counted
            except BaseException:
                if waiter in self._waiting:
                    self._waiting.remove(waiter)
                elif waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    self._give_slot()  # handed a slot as this one was cancelled: pass it on
                raise
            finally:
                timer.cancel()
            return
        self._in_use += 1

    def _give_slot(self) -> None:
        while self._waiting:
            waiter = self._waiting.pop(0)
            if not waiter.done():
                waiter.set_result(None)  # the slot goes to it
                return
        self._in_use -= 1

    async def aclose(self) -> None:
        """Close every connection; a ``get`` still running fails with ConnectionFailed."""
        self._closed = True
        for pool in self._idle.values():
            for conn in pool:
                conn.abort()
        self._idle.clear()
        self._idle_count = 0
        for conn in list(self._busy):
            conn.abort()
        await asyncio.sleep(0)  # let the transports' connection_lost run


def _expire(conn: _Connection, waiter: asyncio.Future[Answer]) -> None:
    if not waiter.done():
        conn._fail(RequestTimeout("timeout"))


def _expire_slot(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(RequestTimeout("timeout waiting for a connection"))
