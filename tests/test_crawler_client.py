"""The crawl's page clients (``examples/crawler/client.py``, ``http1.py``) against hostile
servers on 127.0.0.1: byte caps (announced, streamed, inflated), timeouts (slowloris headers
and bodies, silence), header bounds, broken answers, connections lost, kept alive, closed,
reused after the server dropped them, a bounded number of them, cancellation; and the same
crawl results with either client."""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import anyio
import pytest

from examples.crawler.client import (
    AiohttpClient,
    BadResponse,
    BodyTooLarge,
    ConnectionFailed,
    PageClient,
    RequestTimeout,
)
from examples.crawler.http1 import HttpClient
from examples.crawler.runner import crawl
from examples.crawler.site import EmbeddedSite, SiteConfig
from examples.crawler.urls import CrawlLimits

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024
Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "RawServer"], Awaitable[None]]


class RawServer:
    """A TCP server on 127.0.0.1 that answers each request with ``answer`` (bytes it writes
    as it likes); it counts connections, requests, the bytes it sent and the connections
    open at once."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.port = 0
        self.connections = 0
        self.requests: list[bytes] = []
        self.open = 0
        self.most_open = 0
        self.sent = 0
        self.closed = asyncio.Event()
        self.release = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests.append(head)
                await self.answer(reader, writer, self)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self.open -= 1
            self.closed.set()
            writer.close()

    def write(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        self.sent += len(data)
        writer.write(data)


@asynccontextmanager
async def raw_server(answer: Answer) -> AsyncIterator[RawServer]:
    server = RawServer(answer)
    listening = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    server.port = listening.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        server.release.set()
        listening.close()
        await listening.wait_closed()


async def until_closed(reader: asyncio.StreamReader) -> None:
    """Say nothing, and return when the client has closed the connection."""
    while await reader.read(65536):
        pass


def response(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@asynccontextmanager
async def page_client(kind: str, timeout: float = 5.0, **options: int) -> AsyncIterator[PageClient]:
    if kind == "httptools":
        client = HttpClient(user_agent="test/1", timeout=timeout, **options)  # type: ignore[arg-type]
        try:
            yield client
        finally:
            await client.aclose()
        return
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        yield AiohttpClient(session)


BOTH = pytest.mark.parametrize("kind", ["httptools", "aiohttp"])


# -- answers read whole ------------------------------------------------------------------


@BOTH
async def test_a_page_and_its_headers(kind: str) -> None:
    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: RawServer) -> None:
        body = "<p>café</p>".encode()
        s.write(w, response(body, "Content-Type: text/html; charset=UTF-8", "X-Two: a", "X-Two: b"))

    async with raw_server(answer) as server, page_client(kind) as client:
        with anyio.fail_after(10):
            got = await client.get(server.url + "/page?q=1", max_bytes=MIB)
    assert (got.status, got.body, got.content_type) == (200, "<p>café</p>".encode(), "text/html")
    assert got.charset is not None and got.charset.lower() == "utf-8"
    assert got.headers.get("x-two") == "a, b"
    request = server.requests[0].decode()
    assert request.startswith("GET /page?q=1 HTTP/1.1\r\n")
    assert "gzip" in request.lower()


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw deflate"])
@BOTH
async def test_gzip_and_deflate_are_decoded(kind: str, encoding: str) -> None:
    text = b"<p>" + b"stream graph node " * 2000 + b"</p>"
    packed = {
        "gzip": gzip.compress(text),
        "deflate": zlib.compress(text),
        "raw deflate": zlib.compress(text)[2:-4],
    }[encoding]
    name = encoding.split()[-1]

    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: RawServer) -> None:
        s.write(w, response(packed, f"Content-Encoding: {name}", "Content-Type: text/html"))

    async with raw_server(answer) as server, page_client(kind) as client:
        with anyio.fail_after(10):
            got = await client.get(server.url + "/", max_bytes=MIB)
    assert got.body == text


@BOTH
async def test_a_body_without_length_ends_with_the_connection(kind: str) -> None:
    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: RawServer) -> None:
        s.write(w, b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<p>to the end</p>")
        await w.drain()
        w.close()

    async with raw_server(answer) as server, page_client(kind) as client:
        with anyio.fail_after(10):
            first = await client.get(server.url + "/", max_bytes=MIB)
            second = await client.get(server.url + "/", max_bytes=MIB)
    assert first.body == second.body == b"<p>to the end</p>"
    assert server.connections == 2


@BOTH
async def test_chunked_bodies_and_a_1xx_before_the_answer(kind: str) -> None:
    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: RawServer) -> None:
        s.write(w, b"HTTP/1.1 100 Continue\r\n\r\n")
        s.write(w, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        s.write(w, b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")

    async with raw_server(answer) as server, page_client(kind) as client:
        with anyio.fail_after(10):
            got = await client.get(server.url + "/", max_bytes=MIB)
    assert (got.status, got.body) == (200, b"hello world")


# -- byte caps -----------------------------------------------------------------------------


@BOTH
async def test_an_announced_length_over_the_cap_is_refused_unread(kind: str) -> None:
    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: RawServer) -> None:
        s.write(w, b"HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n")
        while not s.release.is_set():  # a body that arrives slowly: never needed
            s.write(w, b"x" * 1024)
            await w.drain()
            await asyncio.sleep(0.01)

    async with raw_server(answer) as server, page_client(kind) as client:
        with anyio.fail_after(10), pytest.raises(BodyTooLarge) as caught:
            await client.get(server.url + "/", max_bytes=64 * 1024)
        sent = server.sent
    assert caught.value.status == 200
    assert sent < 64 * 1024  # refused on the header, not after reading


@BOTH
async def test_an_endless_chunked_body_stops_at_the_cap(kind: str) -> None:
    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: RawServer) -> None:
        s.write(w, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"4000\r\n" + b"x" * 0x4000 + b"\r\n"
        while True:
            s.write(w, chunk)
            await w.drain()

    async with raw_server(answer) as server, page_client(kind) as client:
        with anyio.fail_after(10), pytest.raises(BodyTooLarge):
            await client.get(server.url + "/", max_bytes=256 * 1024)
        with anyio.fail_after(10):
            await server.closed.wait()  # the connection is dropped, not read on
    assert server.sent < 16 * MIB


@BOTH
async def test_a_gzip_bomb_is_refused_as_it_inflates(kind: str) -> None:
    bomb = gzip.compress(b"\0" * (64 * MIB), compresslevel=9)  # ~64 KiB on the wire

    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: RawServer) -> None:
        s.write(w, response(bomb, "Content-Encoding: gzip"))

    async with raw_server(answer) as server, page_client(kind) as client:
        with anyio.fail_after(20), pytest.raises(BodyTooLarge):
            await client.get(server.url + "/", max_bytes=MIB)
    assert len(bomb) < MIB


async def test_the_inflated_body_is_never_held_past_the_cap() -> None:
    import tracemalloc

    bomb = gzip.compress(b"\0" * (256 * MIB), compresslevel=9)

    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: RawServer) -> None:
        s.write(w, response(bomb, "Content-Encoding: gzip"))

    async with raw_server(answer) as server, page_client("httptools") as client:
        tracemalloc.start()
        try:
            with anyio.fail_after(20), pytest.raises(BodyTooLarge):
                await client.get(server.url + "/", max_bytes=MIB)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 8 * MIB


@BOTH
async def test_the_body_of_an_error_answer_is_dropped(kind: str) -> None:
    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: RawServer) -> None:
        path = s.requests[-1].split()[1]
        if path == b"/small":
            s.write(w, response(b"not found here", status="404 Not Found"))
            return
        s.write(w, b"HTTP/1.1 404 Not Found\r\nContent-Length: 104857600\r\n\r\n")
        while True:
            s.write(w, b"x" * 65536)
            await w.drain()

    async with raw_server(answer) as server, page_client(kind) as client:
        with anyio.fail_after(10):
            small = await client.get(server.url + "/small", max_bytes=10)
            again = await client.get(server.url + "/small", max_bytes=10)
            big = await client.get(server.url + "/big", max_bytes=10)
            after = await client.get(server.url + "/small", max_bytes=10)
    assert (small.status, small.body, again.status, big.status, big.body, after.status) == (
        404,
        b"",
        404,
        404,
        b"",
        404,
    )
    assert server.sent < 100 * MIB  # the big body was not read to its end
    if kind == "httptools":
        # the small ones kept the connection alive, the big one closed it: a second one
        assert server.connections == 2


# -- time ----------------------------------------------------------------------------------


async def _trickle(w: asyncio.StreamWriter, s: RawServer, data: bytes) -> None:
    for i in range(len(data)):
        s.write(w, data[i : i + 1])
        await w.drain()
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("where", ["silence", "headers", "body"])
@BOTH
async def test_a_slow_server_runs_the_request_out_of_time(kind: str, where: str) -> None:
    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: RawServer) -> None:
        if where == "silence":
            await until_closed(r)
        elif where == "headers":
            await _trickle(w, s, b"HTTP/1.1 200 OK\r\n" + b"X-Slow: yes\r\n" * 1000)
        else:
            s.write(w, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            await _trickle(w, s, b"x" * 1000)

    async with raw_server(answer) as server, page_client(kind, timeout=0.5) as client:
        with anyio.fail_after(10), pytest.raises(RequestTimeout):
            await client.get(server.url + "/", max_bytes=MIB)
        with anyio.fail_after(10):
            await server.closed.wait()  # the connection is dropped


@BOTH
async def test_nothing_listening_is_a_connection_failure(kind: str) -> None:
    async with raw_server(lambda r, w, s: asyncio.sleep(0)) as server:
        url = server.url
    async with page_client(kind) as client:
        with anyio.fail_after(10), pytest.raises(ConnectionFailed) as caught:
            await client.get(url + "/", max_bytes=MIB)
    assert caught.value.retryable


# -- broken answers --------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer_bytes",
    [
        b"HTTX/1.1 200 OK\r\n\r\n",
        b"HTTP/1.1 2xx OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nBad Header Line\r\n\r\n",
    ],
    ids=["protocol", "status", "two-lengths", "chunk-size", "header-line"],
)
@BOTH
async def test_a_broken_answer_is_a_bad_response(kind: str, answer_bytes: bytes) -> None:
    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: RawServer) -> None:
        s.write(w, answer_bytes)
        await s.release.wait()

    async with raw_server(answer) as server, page_client(kind) as client:
        with anyio.fail_after(10), pytest.raises((BadResponse, ConnectionFailed)) as caught:
            await client.get(server.url + "/", max_bytes=MIB)
    if kind == "httptools":
        assert isinstance(caught.value, BadResponse) and not caught.value.retryable


@pytest.mark.parametrize("what", ["bytes", "count"])
async def test_headers_are_bounded(what: str) -> None:
    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: RawServer) -> None:
        s.write(w, b"HTTP/1.1 200 OK\r\n")
        line = b"X-Pad: " + b"p" * (1000 if what == "bytes" else 1) + b"\r\n"
        while True:
            s.write(w, line)
            await w.drain()

    async with raw_server(answer) as server, page_client("httptools") as client:
        with anyio.fail_after(10), pytest.raises(BadResponse, match="headers"):
            await client.get(server.url + "/", max_bytes=MIB)
    assert server.sent < 4 * MIB


@BOTH
async def test_a_connection_lost_mid_body_may_be_tried_again(kind: str) -> None:
    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: RawServer) -> None:
        s.write(w, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
        await w.drain()
        w.close()

    async with raw_server(answer) as server, page_client(kind) as client:
        with anyio.fail_after(10), pytest.raises(ConnectionFailed) as caught:
            await client.get(server.url + "/", max_bytes=MIB)
    assert caught.value.retryable


# -- connections ---------------------------------------------------------------------


async def ok(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: RawServer) -> None:
    s.write(w, response(b"<p>ok</p>", "Content-Type: text/html"))


async def test_connections_are_kept_alive_and_bounded() -> None:
    async def held(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: RawServer) -> None:
        if len(s.requests) <= 5:
            await s.release.wait()
        await ok(r, w, s)

    async with raw_server(held) as server, page_client("httptools", max_connections=2) as client:
        assert isinstance(client, HttpClient)
        with anyio.fail_after(10):
            gets = [
                asyncio.ensure_future(client.get(server.url + "/", max_bytes=MIB)) for _ in range(5)
            ]
            while len(server.requests) < 2:
                await asyncio.sleep(0.01)
            server.release.set()
            await asyncio.gather(*gets)
            for _ in range(20):
                await client.get(server.url + "/", max_bytes=MIB)
    assert server.most_open == 2 and server.connections == 2 == client.connections_opened
    assert len(server.requests) == 25


async def test_connection_close_is_honoured() -> None:
    async def closing(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: RawServer) -> None:
        s.write(w, response(b"bye", "Connection: close"))
        await w.drain()

    async with raw_server(closing) as server, page_client("httptools") as client:
        with anyio.fail_after(10):
            for _ in range(3):
                assert (await client.get(server.url + "/", max_bytes=MIB)).body == b"bye"
    assert server.connections == 3


async def test_a_kept_connection_the_server_dropped_is_replaced_once() -> None:
    async def once(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: RawServer) -> None:
        s.write(w, response(b"one answer per connection"))  # says keep-alive, then closes
        await w.drain()
        w.close()
        raise ConnectionError

    async with raw_server(once) as server, page_client("httptools") as client:
        assert isinstance(client, HttpClient)
        with anyio.fail_after(10):
            await client.get(server.url + "/", max_bytes=MIB)
            await server.closed.wait()
            await asyncio.sleep(0.05)  # the client sees the close once the loop runs
            second = await client.get(server.url + "/", max_bytes=MIB)
    assert second.body == b"one answer per connection"
    assert server.connections == 2 and len(server.requests) == 2


async def test_a_cancelled_get_leaves_no_connection_behind() -> None:
    async def silent(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: RawServer) -> None:
        await until_closed(r)

    async with raw_server(silent) as server, page_client("httptools") as client:
        assert isinstance(client, HttpClient)
        with anyio.fail_after(10):
            get = asyncio.ensure_future(client.get(server.url + "/", max_bytes=MIB))
            while not server.requests:
                await asyncio.sleep(0.01)
            get.cancel()
            with pytest.raises(asyncio.CancelledError):
                await get
            await server.closed.wait()
        assert server.open == 0 and not client._busy and client._in_use == 0


async def test_close_ends_idle_connections() -> None:
    async with raw_server(ok) as server:
        client = HttpClient(user_agent="test/1", timeout=5)
        with anyio.fail_after(10):
            await client.get(server.url + "/", max_bytes=MIB)
            assert server.open == 1
            await client.aclose()
            await server.closed.wait()
        assert server.open == 0
        with pytest.raises(RuntimeError, match="closed"):
            await client.get(server.url + "/", max_bytes=MIB)


async def test_the_request_line_is_encoded_and_cannot_be_split() -> None:
    async with raw_server(ok) as server, page_client("httptools") as client:
        with anyio.fail_after(10):
            await client.get(server.url + "/café/ü?q=é", max_bytes=MIB)
        for bad in ("/a\r\nX-Injected: 1", "/a b", "/\x00"):
            with pytest.raises(ValueError):
                await client.get(server.url + bad, max_bytes=MIB)
    assert server.requests[0].startswith(b"GET /caf%C3%A9/%C3%BC?q=%C3%A9 HTTP/1.1\r\n")
    assert b"Host: 127.0.0.1:" in server.requests[0] and len(server.requests) == 1


# -- the crawl, with either client --------------------------------------------------------


async def test_both_clients_crawl_the_embedded_site_alike(tmp_path: Path) -> None:
    config = SiteConfig(pages=300, latency=0.001, slow_latency=0.01)
    found = {}
    async with EmbeddedSite(config) as site:
        for kind in ("httptools", "aiohttp"):
            out = tmp_path / f"{kind}.jsonl"
            limits = CrawlLimits.for_urls(site.base_url, concurrency=32)
            with anyio.fail_after(60):
                result = await crawl(
                    site.sitemap_url, limits, output_path=str(out), http_client=kind
                )
            lines = sorted(out.read_text().splitlines())
            found[kind] = (result.totals, [json.loads(line) for line in lines])
        want = site.expected()
    (fast, fast_lines), (slow, slow_lines) = found["httptools"], found["aiohttp"]
    assert fast == slow and fast.ok == want.ok and fast.words == want.words
    assert fast_lines == slow_lines
