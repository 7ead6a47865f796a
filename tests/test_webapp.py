"""The web app example (``examples/webapp``) under a real uvicorn server, over real HTTP.

Each test starts uvicorn on a free loopback port inside the test's event loop, talks to it
with aiohttp, and shuts it down (which runs the app's lifespan shutdown: ``dr.aclose()``).
Backends that the tests hold (``Gated``) make every ordering deterministic: nothing here
depends on how long anything takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import pytest
import uvicorn
from starlette.applications import Starlette

from asyncdag import driver
from asyncdag.errors import ExecutorError
from examples.webapp import app as webapp
from examples.webapp import server as webserver
from examples.webapp.admission import Admission
from examples.webapp.services import Backend, expected_quote

pytestmark = pytest.mark.anyio


class Gated(Backend):
    """Holds every call about a key in ``held`` until the test releases that key."""

    def __init__(self, held: frozenset[str] = frozenset()) -> None:
        super().__init__(latency=0.0)
        self.gates = {key: asyncio.Event() for key in held}

    def release(self, key: str) -> None:
        self.gates[key].set()

    async def wait_for_reply(self, service: str, key: str) -> None:
        gate = self.gates.get(key)
        if gate is not None:
            await gate.wait()
        else:
            await asyncio.sleep(0)

    def waiting_on(self) -> set[str]:
        return {key for _, key in self.in_flight.values()}


class Barrier(Backend):
    """Holds every loyalty call (one per request) until ``parties`` of them wait at once."""

    def __init__(self, parties: int) -> None:
        super().__init__(latency=0.0)
        self.parties = parties
        self.waiting = 0
        self.all_in = asyncio.Event()

    async def wait_for_reply(self, service: str, key: str) -> None:
        if service != "loyalty":
            await asyncio.sleep(0)
            return
        self.waiting += 1
        if self.waiting == self.parties:
            self.all_in.set()
        await self.all_in.wait()


@contextlib.asynccontextmanager
async def serving(app: Starlette, **limits: Any) -> AsyncIterator[str]:
    """uvicorn serving ``app`` on 127.0.0.1 in this loop, configured as the example serves it
    (``server.config``; ``limits`` override its timeouts and limits); yields the base URL."""
    async with serving_with(app, **limits) as (base, _):
        yield base


@contextlib.asynccontextmanager
async def serving_with(app: Starlette, **limits: Any) -> AsyncIterator[tuple[str, Any]]:
    """As ``serving``, also yielding the ``uvicorn.Server`` (to see its connections)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)  # the 200 concurrent connections queue here until accepted
    port = sock.getsockname()[1]
    server = uvicorn.Server(webserver.config(app, log_level="warning", **limits))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        with anyio.fail_after(10):
            while not server.started:  # lifespan startup done, accepting connections
                if task.done():
                    task.result()  # startup failed: raise its error
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.should_exit = True
        with anyio.fail_after(10):
            await task
        sock.close()


@contextlib.asynccontextmanager
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        yield session


async def read_events(resp: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, Any]]:
    """Server-sent events as ``(event, data)``, as each arrives."""
    name, data = "", list[str]()
    async for raw in resp.content:
        text = raw.decode().rstrip("\r\n")
        if not text:
            if name:
                yield name, json.loads("\n".join(data))
            name, data = "", list[str]()
        elif text.startswith("event:"):
            name = text[len("event:") :].strip()
        elif text.startswith("data:"):
            data.append(text[len("data:") :].strip())


def stream_url(base: str, skus: list[str], customer: str) -> str:
    query = "&".join([*(f"sku={s}" for s in skus), f"customer={customer}"])
    return f"{base}/quote/stream?{query}"


async def post_quote(session: aiohttp.ClientSession, base: str, body: Any) -> tuple[int, Any]:
    async with session.post(f"{base}/quote", json=body) as resp:
        return resp.status, await resp.json()


# -- aexecute per request ----------------------------------------------------------------------


async def test_200_concurrent_requests_each_get_their_own_quote() -> None:
    n = 200
    # Every request's run holds its loyalty call until all 200 hold one: the runs overlap
    # on the one driver, or this test times out.
    backend = Barrier(parties=n)
    bodies: list[dict[str, Any]] = [
        {"skus": [f"sku-{i}-{k}" for k in range(1 + i % 6)], "customer": f"customer-{i % 7}"}
        for i in range(n)
    ]
    with anyio.fail_after(15):
        # admission gives every request its turn at once (it would grow to that anyway)
        app = webapp.create_app(backend, Admission(initial=n))
        async with serving(app) as base, client() as session:
            answers = await asyncio.gather(*(post_quote(session, base, b) for b in bodies))
    assert backend.all_in.is_set()
    for body, (status, answer) in zip(bodies, answers):
        assert status == 200, answer
        assert answer == expected_quote(body["skus"], body["customer"])
    assert backend.in_flight == {}


async def test_bad_inputs_answer_422_and_a_failing_node_500_naming_it() -> None:
    with anyio.fail_after(10):
        async with serving(webapp.create_app(Gated())) as base, client() as session:
            status, missing = await post_quote(session, base, {"skus": ["a"]})
            assert (status, missing["type"], missing["missing"]) == (
                422,
                "MissingInputError",
                ["customer"],
            )
            status, wrong_type = await post_quote(session, base, {"skus": "a", "customer": "c"})
            assert (status, wrong_type["type"]) == (422, "InputTypeError")
            status, not_str = await post_quote(session, base, {"skus": [1], "customer": "c"})
            assert status == 422, not_str
            # A client must not be able to replace a node by naming it.
            status, names_node = await post_quote(
                session, base, {"skus": ["a"], "customer": "c", "price": 0}
            )
            assert status == 422 and "price" in names_node["error"]
            async with session.post(f"{base}/quote", data=b"{not json") as resp:
                assert resp.status == 400

            status, failed = await post_quote(
                session, base, {"skus": ["a", "retired-b"], "customer": "c"}
            )
            assert status == 500
            assert (failed["node"], failed["index"]) == ("price", [1])
            assert "retired-b" in failed["error"]

            async with session.get(f"{base}/quote/stream?sku=a") as resp:
                assert resp.status == 422
                assert (await resp.json())["missing"] == ["customer"]
            async with session.get(stream_url(base, ["retired-a"], "c")) as resp:
                events = [e async for e in read_events(resp)]
            assert events[-1][0] == "error"
            assert (events[-1][1]["node"], events[-1][1]["index"]) == ("price", [0])


async def test_shutdown_closes_the_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[driver.Driver] = []

    def build() -> driver.Driver:
        built.append(webapp_build())
        return built[-1]

    webapp_build = webapp.build_driver
    monkeypatch.setattr(webapp, "build_driver", build)
    backend = Gated()
    with anyio.fail_after(10):
        async with serving(webapp.create_app(backend)) as base, client() as session:
            status, _ = await post_quote(session, base, {"skus": ["a"], "customer": "c"})
            assert status == 200
    assert len(built) == 1  # one driver for the app's life, not one per request
    with pytest.raises(ExecutorError):
        await built[0].aexecute(["quote"], inputs={"skus": [], "customer": "c", "backend": backend})


# -- astream as server-sent events -------------------------------------------------------------


async def test_stream_sends_each_line_while_the_run_is_still_going() -> None:
    skus = ["a", "b", "c"]
    backend = Gated(held=frozenset({"b", "c"}))
    seen: list[tuple[str, Any]] = []
    with anyio.fail_after(10):
        async with serving(webapp.create_app(backend)) as base, client() as session:
            async with session.get(stream_url(base, skus, "ada")) as resp:
                assert resp.headers["content-type"].startswith("text/event-stream")
                events = read_events(resp)
                # b and c are held, so the run cannot finish: what comes now is streamed.
                seen.append(await anext(events))
                backend.release("c")
                seen.append(await anext(events))  # c's line: b is still held
                assert backend.waiting_on() == {"b"}
                backend.release("b")
                seen.extend([e async for e in events])
    expected = expected_quote(skus, "ada")
    assert seen == [
        ("line", {"index": 0, "line": expected["lines"][0]}),
        ("line", {"index": 2, "line": expected["lines"][2]}),  # c finished before b
        ("line", {"index": 1, "line": expected["lines"][1]}),
        ("quote", expected),
    ]


async def test_a_client_that_disconnects_cancels_its_run() -> None:
    backend = Gated(
        held=frozenset({"b", "c"})
    )  # never released: only cancellation ends these calls
    with anyio.fail_after(15):
        async with serving(webapp.create_app(backend)) as base, client() as session:
            async with session.get(stream_url(base, ["a", "b", "c"], "ada")) as resp:
                first = await anext(read_events(resp))
                assert first[0] == "line"
                while len(backend.in_flight) < 4:  # pricing and inventory for b and c
                    await asyncio.sleep(0.01)
                assert backend.cancelled == 0
                resp.close()  # the client goes away mid-stream

            with anyio.fail_after(5):
                while backend.in_flight:
                    await asyncio.sleep(0.01)
            assert backend.cancelled == 4  # each held call saw its cancellation

            # The server goes on serving, streams included.
            body = {"skus": ["d", "e"], "customer": "bob"}
            assert await post_quote(session, base, body) == (200, expected_quote(["d", "e"], "bob"))
            async with session.get(stream_url(base, ["d", "e"], "bob")) as resp:
                events = [e async for e in read_events(resp)]
            assert events[-1] == ("quote", expected_quote(["d", "e"], "bob"))
            async with session.get(f"{base}/stats") as resp:
                stats = await resp.json()
            assert stats["backend"]["in_flight"] == 0
            assert stats["backend"]["cancelled"] == 4


# -- the load script ---------------------------------------------------------------------------


def test_load_script_runs_at_a_small_size() -> None:
    from benchmarks import web_load

    rows, got = web_load.bench(requests=40, concurrency=8, skus=2, latency=0.001, time_cap=60)
    assert got["requests"] == 40 and got["failures"] == []
    assert {r.system for r in rows} == {
        "throughput",
        "latency p50",
        "latency p99",
        "server CPU",
        "server loop lag worst",
    }
    assert got["lag"]["samples"] >= 0 and got["backend"]["in_flight"] == 0
    assert len(web_load.targets(rows)) == 1


def _app_garbage() -> list[str]:
    """Of what the cyclic collector finds unreachable now, what the app or asyncdag made."""
    import gc
    import types

    def ours(obj: Any) -> bool:
        if isinstance(obj, types.FrameType):
            where = obj.f_code.co_filename
        else:
            where = type(obj).__module__ or ""
        return any(p in where for p in ("asyncdag", "examples", "starlette", "anyio"))

    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        return sorted({type(o).__qualname__ for o in gc.garbage if ours(o)})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


async def test_requests_leave_no_reference_cycles() -> None:
    """A request's objects are freed as it ends, not left for the cyclic collector: under
    load, such garbage made full collections that stalled the server's loop for milliseconds
    (the disconnect watcher was an anyio task group, whose cancelled task held a cycle)."""
    import gc

    bodies = [{"skus": [f"s{i}", f"t{i}"], "customer": f"c{i}"} for i in range(20)]
    with anyio.fail_after(15):
        async with serving(webapp.create_app(Backend(latency=0.0))) as base, client() as session:
            await post_quote(session, base, bodies[0])  # start-up's own objects come first
            gc.collect()
            gc.disable()
            try:
                answers = await asyncio.gather(*(post_quote(session, base, b) for b in bodies))
                left = _app_garbage()
            finally:
                gc.enable()
    assert [s for s, _ in answers] == [200] * len(bodies)
    assert left == []


# -- bounds: body size and shape, disconnects, slow and idle clients ---------------------------


async def raw_request(base: str, data: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    await writer.drain()
    return reader, writer


def post_bytes(body: bytes, *, length: int | None = None) -> bytes:
    size = len(body) if length is None else length
    return (
        b"POST /quote HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {size}\r\n\r\n".encode()
        + body
    )


async def test_a_body_over_the_limit_is_413_declared_or_not() -> None:
    backend = Gated()
    with anyio.fail_after(15):
        async with serving(webapp.create_app(backend)) as base, client() as session:
            big = b'{"skus": ["' + b"x" * webapp.MAX_BODY + b'"], "customer": "c"}'
            async with session.post(f"{base}/quote", data=big) as resp:
                assert resp.status == 413
                assert "larger than" in (await resp.json())["error"]

            async def chunks() -> AsyncIterator[bytes]:  # chunked: no Content-Length to trust
                for _ in range(8):
                    yield b" " * (webapp.MAX_BODY // 4)

            async with session.post(f"{base}/quote", data=chunks()) as resp:
                assert resp.status == 413
            status, _ = await post_quote(session, base, {"skus": ["a"], "customer": "c"})
            assert status == 200
    assert backend.calls == 3  # loyalty, pricing, inventory: of the one good request only


async def test_malformed_or_too_deep_json_is_400() -> None:
    with anyio.fail_after(15):
        async with serving(webapp.create_app(Gated())) as base, client() as session:
            for body in (
                b"{not json",
                b"\xff\xfe",  # not even text
                b"[" * 20_000 + b"]" * 20_000,  # would be a RecursionError
                b'{"skus": ' + b"[" * 9 + b"]" * 9 + b', "customer": "c"}',
            ):
                async with session.post(f"{base}/quote", data=body) as resp:
                    assert resp.status == 400, body[:40]
                    assert "error" in await resp.json()
            nested = b'{"skus": ["a"], "customer": "c"}'  # two levels: fine
            async with session.post(f"{base}/quote", data=nested) as resp:
                assert resp.status == 200


async def test_a_slow_body_is_408(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webapp, "BODY_TIMEOUT", 0.2)
    with anyio.fail_after(15):
        async with serving(webapp.create_app(Gated())) as base:
            reader, writer = await raw_request(base, post_bytes(b'{"skus": [', length=100))
            status_line = await reader.readline()  # the rest of the body never comes
            assert status_line.split()[1] == b"408"
            writer.close()


async def test_a_post_whose_client_disconnects_cancels_its_run() -> None:
    backend = Gated(held=frozenset({"b", "c"}))  # never released: only cancellation ends them
    with anyio.fail_after(15):
        async with serving(webapp.create_app(backend)) as base, client() as session:
            body = json.dumps({"skus": ["a", "b", "c"], "customer": "ada"}).encode()
            _, writer = await raw_request(base, post_bytes(body))
            while len(backend.in_flight) < 4:  # pricing and inventory for b and c
                await asyncio.sleep(0.01)
            assert backend.cancelled == 0
            writer.close()  # the client goes away before its answer
            await writer.wait_closed()
            while backend.in_flight:
                await asyncio.sleep(0.01)
            assert backend.cancelled == 4  # each held call saw its cancellation
            calls = backend.calls
            status, answer = await post_quote(session, base, {"skus": ["d"], "customer": "bob"})
            assert (status, answer) == (200, expected_quote(["d"], "bob"))
            assert backend.calls == calls + 3  # nothing else of the first run went on


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while chunk := await reader.read(65536):
        data += chunk
    return data


async def test_slowloris_clients_are_cut_off_and_the_limit_holds() -> None:
    limit = 8
    with anyio.fail_after(30):
        async with serving_with(
            webapp.create_app(Gated()), header_timeout=0.5, limit_concurrency=limit
        ) as (base, server):
            # slow clients: a request line and one header, then nothing (a byte a minute)
            slow = [
                await raw_request(base, b"POST /quote HTTP/1.1\r\nHost: test\r\n")
                for _ in range(3 * limit)
            ]
            while len(server.server_state.connections) < 3 * limit:
                await asyncio.sleep(0.01)
            async with client() as session:
                # the limit holds: a real request is refused at once, not queued behind them
                async with session.post(f"{base}/quote", json={"skus": ["a"]}) as resp:
                    assert resp.status == 503
            # every slow connection is closed by the server, without an answer
            for reader, writer in slow:
                assert await read_until_closed(reader) == b""
                writer.close()
            while server.server_state.connections:
                await asyncio.sleep(0.01)
            async with client() as session:  # and the server serves again
                status, _ = await post_quote(session, base, {"skus": ["a"], "customer": "c"})
                assert status == 200


async def test_idle_keep_alive_connections_are_closed() -> None:
    with anyio.fail_after(15):
        async with serving_with(webapp.create_app(Gated()), keep_alive_timeout=0.3) as (
            base,
            server,
        ):
            reader, writer = await raw_request(
                base, b"GET /stats HTTP/1.1\r\nHost: test\r\nConnection: keep-alive\r\n\r\n"
            )
            answer = await read_until_closed(reader)  # the answer, then the server's close
            assert answer.startswith(b"HTTP/1.1 200")
            writer.close()
            while server.server_state.connections:
                await asyncio.sleep(0.01)


def test_the_example_serves_with_its_bounds() -> None:
    config = webserver.config(webapp.create_app(Gated()))
    assert config.timeout_keep_alive == webserver.KEEP_ALIVE_TIMEOUT
    assert config.limit_concurrency == webserver.LIMIT_CONCURRENCY
    assert issubclass(config.http, webserver.HeaderTimeoutProtocol)  # type: ignore[arg-type]
    assert config.http.header_timeout == webserver.HEADER_TIMEOUT  # type: ignore[union-attr]
