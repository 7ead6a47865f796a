"""The web app: one asyncdag driver for the app's life, one run per request.

Endpoints:

- ``POST /quote`` with ``{"skus": [...], "customer": "..."}``: ``await dr.aexecute(...)``,
  answers the quote as JSON.
- ``GET /quote/stream?sku=a&sku=b&customer=c``: ``dr.astream(...)`` as server-sent events,
  one ``line`` event per SKU as soon as its line is ready (completion order, with its
  ``index`` in the basket), then one ``quote`` event with the whole quote. A client that goes
  away cancels its run.
- ``GET /stats``: the event loop's lag (``?reset=1`` starts a new measurement), admission's
  limit and queue, and the backend's call counters.

Errors: a request that does not fit the dataflow (a missing input, a wrongly typed one,
``asyncdag.errors.ExecutionRequestError``) answers 422 before any node runs; a node that fails
(``NodeExecutionError``) answers 500 naming the node and the item; in a stream that has
started, it is an ``error`` event instead.

Bounds on what a client can make the app do: a body larger than ``MAX_BODY`` answers 413
(from its ``Content-Length``, or as soon as the bytes read pass the limit: nothing larger is
ever held); a body not read within ``BODY_TIMEOUT`` seconds answers 408; a body that is not
JSON, or JSON nested deeper than ``MAX_JSON_DEPTH``, answers 400. A client that goes away
while its ``POST /quote`` runs cancels the run, as the stream endpoint does. The server's own
bounds (header and keep-alive timeouts, a concurrency limit) are in ``server.py``.

Admission (``admission.py``): ``POST /quote`` runs start when a turn is free, oldest first; the
number of turns follows the event loop's lag, so that a core-bound server queues requests in
front of their runs rather than in every loop turn, and stays responsive. ``GET /stats``
shows the limit, the runs in progress and the requests waiting. Streams are not admitted:
their runs are paced by their readers (astream's window).

Why Starlette rather than FastAPI: everything this app needs -- lifespan, JSON responses,
streaming responses -- is Starlette's, and FastAPI is Starlette plus pydantic validation and
OpenAPI. Here the validation that matters is asyncdag's own (the driver checks inputs against
the dataflow's signatures before any node runs), and with FastAPI a pydantic model would
answer most bad requests before asyncdag saw them, hiding the mapping this example shows. The
code carries over to FastAPI as it is: same lifespan, same responses.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import math
import time
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine, Mapping
from typing import Any, TypeVar, cast

import anyio
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from asyncdag import driver
from asyncdag.driver import StreamEvent
from asyncdag.errors import ExecutionRequestError, MissingInputError, NodeExecutionError
from asyncdag.execution.executors import AsyncioExecutor
from examples.webapp import dataflow
from examples.webapp.admission import Admission
from examples.webapp.services import Backend

logger = logging.getLogger("examples.webapp")

T = TypeVar("T")

#: Block instances (one per SKU) that may run at once across every request: a bound on the
#: load the app puts on its backends. Past it, items wait for a slot, oldest first.
MAX_TASKS = 1024
#: The largest request body read (bytes): a basket of a thousand SKUs fits many times over.
MAX_BODY = 64 * 1024
#: Seconds a client has to send its whole body (a slow POST holds a connection otherwise).
BODY_TIMEOUT = 10.0
#: How deeply the body's JSON may nest (the dataflow's inputs nest two levels).
MAX_JSON_DEPTH = 8


def build_driver() -> driver.Driver:
    """The one driver the app serves every request with."""
    executor = AsyncioExecutor(max_tasks=MAX_TASKS)
    return (
        driver.Builder()
        .with_modules(dataflow)
        .with_local_executor(executor)
        .with_remote_executor(executor)
        .build()
    )


def create_app(backend: Backend | None = None, admission: Admission | None = None) -> Starlette:
    """The app. ``backend`` is the services the dataflow calls (a fresh ``Backend()`` if
    omitted); tests pass one they control. ``admission`` bounds the runs in progress at once
    (``admission.py``; a fresh ``Admission()`` if omitted)."""
    backend = backend if backend is not None else Backend()
    admission = admission if admission is not None else Admission()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        monitor = LoopLagMonitor()
        # One driver for the app's life: aclose() at shutdown stops its threads. The monitor
        # runs beside the app and is cancelled first.
        async with build_driver() as dr, anyio.create_task_group() as tg:
            tg.start_soon(monitor.run)
            tg.start_soon(admission.run)
            yield {"driver": dr, "backend": backend, "monitor": monitor, "admission": admission}
            tg.cancel_scope.cancel()

    return Starlette(
        routes=[
            Route("/quote", post_quote, methods=["POST"]),
            Route("/quote/stream", stream_quote, methods=["GET"]),
            Route("/stats", stats, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


# -- endpoints -----------------------------------------------------------------------------


async def post_quote(request: Request) -> Response:
    """One run per request, on the server's event loop; cancelled if the client leaves."""
    try:
        body = await read_json(request)
    except BadBodyError as exc:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)
    except ClientDisconnect:
        return Response(status_code=499)  # nobody to answer: nothing was started
    try:
        inputs = _inputs(body, request.state.backend)
        result = await unless_disconnected(
            request, _admitted(request.state.admission, request.state.driver, inputs)
        )
    except (ExecutionRequestError, InvalidRequestError) as exc:
        return _unprocessable(exc)
    except NodeExecutionError as exc:
        logger.warning("quote failed: %s", exc)
        return JSONResponse(_node_error(exc), status_code=500)
    except ClientDisconnect:
        logger.info("quote cancelled: the client went away")
        return Response(status_code=499)
    return JSONResponse(result["quote"])


async def stream_quote(request: Request) -> Response:
    """The same run as ``POST /quote``, its lines sent as server-sent events as they finish."""
    body: dict[str, Any] = {"skus": request.query_params.getlist("sku")}
    if "customer" in request.query_params:
        body["customer"] = request.query_params["customer"]
    dr: driver.Driver = request.state.driver
    try:
        inputs = _inputs(body, request.state.backend)
        # Check the request now, while a 422 can still be sent: the stream's headers go first.
        dr.validate_execution(dataflow.OUTPUTS, inputs=inputs)
    except (ExecutionRequestError, InvalidRequestError) as exc:
        return _unprocessable(exc)
    return EventStream(_quote_events(dr, inputs))


async def stats(request: Request) -> Response:
    """The loop's lag since the last reset, the backend's counters, the process's CPU time."""
    monitor: LoopLagMonitor = request.state.monitor
    backend: Backend = request.state.backend
    reset = request.query_params.get("reset", "") not in ("", "0", "false")
    return JSONResponse(
        {
            "loop_lag": monitor.snapshot(reset=reset),
            "admission": request.state.admission.snapshot(),
            "backend": {
                "calls": backend.calls,
                "in_flight": len(backend.in_flight),
                "cancelled": backend.cancelled,
            },
            "cpu_seconds": time.process_time(),
        }
    )


async def _quote_events(dr: driver.Driver, inputs: Mapping[str, Any]) -> AsyncGenerator[str, None]:
    # aclosing: if this generator is closed at a yield, astream is closed too, which cancels
    # the run there and then rather than whenever the garbage collector gets to it. (The cast:
    # astream is an async generator, but annotated as a plain AsyncIterator.)
    stream = cast("AsyncGenerator[StreamEvent, None]", dr.astream(dataflow.OUTPUTS, inputs=inputs))
    async with contextlib.aclosing(stream) as events:
        try:
            async for event in events:
                if event.kind == "item" and event.node == "line":
                    yield _event("line", {"index": event.index[0], "line": event.value})
                elif event.kind == "result":
                    yield _event("quote", event.value["quote"])
        except NodeExecutionError as exc:
            logger.warning("quote stream failed: %s", exc)
            yield _event("error", _node_error(exc))


# -- bounded requests ----------------------------------------------------------------------


class BadBodyError(Exception):
    """A request body the app will not read: too large (413), too slow (408), not JSON or
    nested too deeply (400)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


async def read_json(request: Request) -> Any:
    """The body as JSON, within ``MAX_BODY`` bytes, ``BODY_TIMEOUT`` seconds and
    ``MAX_JSON_DEPTH`` levels of nesting."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise BadBodyError(f"the body is larger than {MAX_BODY:,} bytes", 413)
    chunks: list[bytes] = []
    size = 0
    try:
        with anyio.fail_after(BODY_TIMEOUT):
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BODY:  # stop reading: nothing larger is ever held
                    raise BadBodyError(f"the body is larger than {MAX_BODY:,} bytes", 413)
                chunks.append(chunk)
    except TimeoutError:
        raise BadBodyError(f"the body took longer than {BODY_TIMEOUT:g} s to arrive", 408) from None
    try:
        body = json.loads(b"".join(chunks))
    except RecursionError:
        raise BadBodyError(f"the JSON nests deeper than {MAX_JSON_DEPTH} levels", 400) from None
    except ValueError:
        raise BadBodyError("the body is not JSON", 400) from None
    if _depth(body) > MAX_JSON_DEPTH:
        raise BadBodyError(f"the JSON nests deeper than {MAX_JSON_DEPTH} levels", 400)
    return body


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value`` (without recursion)."""
    deepest = 0
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, level + 1) for c in children if isinstance(c, dict | list))
    return deepest


async def _admitted(admission: Admission, dr: driver.Driver, inputs: dict[str, Any]) -> Any:
    """The request's run, once admission gives it a turn (a client that leaves while it waits
    cancels the wait: nothing of its run ever starts)."""
    async with admission.turn():
        return await dr.aexecute(dataflow.OUTPUTS, inputs=inputs)


async def unless_disconnected(request: Request, run: Coroutine[Any, Any, T]) -> T:
    """Await ``run``, cancelling it if the client disconnects meanwhile; then raise
    ``ClientDisconnect``. (Once the body is read, the next ASGI message is the disconnect.)

    Two plain asyncio tasks, the run and a watcher of ``receive()``, rather than an anyio task
    group: cancelling a task group's watcher leaves its cancel scope, its task and the
    request's objects in a reference cycle, and 100 requests a second of such garbage gave the
    loop a 7-10 ms full collection every half second (see ``benchmarks/README.md``, WEB). A
    cancelled plain task holds no cycle: what it leaves is freed at once.
    """
    loop = asyncio.get_running_loop()
    work = loop.create_task(run)
    gone = False

    async def watch() -> None:
        nonlocal gone
        while (await request.receive())["type"] != "http.disconnect":
            pass
        gone = True
        work.cancel()

    watcher = loop.create_task(watch())
    try:
        return await work  # cancelling this task cancels the run too
    except asyncio.CancelledError:
        if gone and work.cancelled():
            raise ClientDisconnect() from None
        raise
    finally:
        watcher.cancel()


# -- helpers -------------------------------------------------------------------------------

_FIELDS = frozenset({"skus", "customer"})


class InvalidRequestError(Exception):
    """A request that does not fit the dataflow, found by the app rather than by asyncdag."""


def _inputs(body: Any, backend: Backend) -> dict[str, Any]:
    """The run's inputs: the request's fields, and the backend the app owns.

    Only the request's own fields pass: any name given in ``inputs`` replaces the node of that
    name, so a client must not be able to name nodes. Missing fields and wrongly typed ones
    are left to the driver, which checks them against the nodes' signatures.
    """
    if not isinstance(body, dict):
        raise InvalidRequestError("the body must be a JSON object")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise InvalidRequestError(f"unknown field(s) {unknown}; expected {sorted(_FIELDS)}")
    skus = body.get("skus")
    # The driver checks that skus is a list; it does not look inside (that costs per item).
    if isinstance(skus, list) and not all(isinstance(s, str) for s in skus):
        raise InvalidRequestError("skus must be a list of strings")
    return {**body, "backend": backend}


def _unprocessable(exc: ExecutionRequestError | InvalidRequestError) -> Response:
    content: dict[str, Any] = {"error": str(exc), "type": type(exc).__name__}
    if isinstance(exc, MissingInputError):
        content["missing"] = sorted(exc.missing)
    return JSONResponse(content, status_code=422)


def _node_error(exc: NodeExecutionError) -> dict[str, Any]:
    return {"error": str(exc), "node": exc.node, "index": list(exc.index)}


def _event(name: str, data: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


class EventStream(StreamingResponse):
    """A ``text/event-stream`` response that stops, and closes its events, when the client
    goes away.

    Starlette's ``StreamingResponse`` notices a disconnect in one of two ways, depending on the
    ASGI version the server speaks: by listening for it (uvicorn today), or only when the next
    ``send`` fails (ASGI 2.4 servers). With the second, a run whose next event is minutes away
    would go on for minutes after its client left. This response always listens, and closes
    the event generator before returning, so the run is over when the request is.
    """

    media_type = "text/event-stream"

    def __init__(self, events: AsyncGenerator[str, None]) -> None:
        super().__init__(events, headers={"Cache-Control": "no-cache"})
        self._events = events

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as tg:

                async def cancel_on_disconnect() -> None:
                    await self.listen_for_disconnect(receive)
                    tg.cancel_scope.cancel()

                tg.start_soon(cancel_on_disconnect)
                try:
                    await self.stream_response(send)
                except OSError:  # an ASGI 2.4 server's word that the client has gone
                    pass
                tg.cancel_scope.cancel()
        finally:
            # Shielded: closing cancels the run and waits until nothing of it is left, even
            # though this task is being cancelled.
            with anyio.CancelScope(shield=True):
                await self._events.aclose()


class LoopLagMonitor:
    """How late the event loop wakes a task that sleeps 10 ms, again and again.

    A wake-up is late by as long as other callbacks held the loop: a blocking call in a
    handler, a slow sync function run on the loop. The worst lateness is the longest any
    request waited for the loop to look at it.
    """

    def __init__(self, interval: float = 0.01, keep: int = 100_000) -> None:
        self.interval = interval
        self._lags: collections.deque[float] = collections.deque(maxlen=keep)
        self._worst = 0.0

    async def run(self) -> None:
        clock = time.perf_counter
        while True:
            start = clock()
            await anyio.sleep(self.interval)
            lag = max(0.0, clock() - start - self.interval)
            self._lags.append(lag)
            self._worst = max(self._worst, lag)

    def snapshot(self, *, reset: bool = False) -> dict[str, float | int]:
        """``samples``, ``p50_ms``, ``p99_ms`` and ``worst_ms`` since the last reset."""
        lags = sorted(self._lags)

        def ms(q: float) -> float:
            lag = lags[min(len(lags) - 1, math.ceil(q * len(lags)) - 1)] if lags else 0.0
            return round(lag * 1e3, 3)

        figures: dict[str, float | int] = {
            "samples": len(lags),
            "p50_ms": ms(0.50),
            "p99_ms": ms(0.99),
            "worst_ms": round(self._worst * 1e3, 3),
        }
        if reset:
            self._lags.clear()
            self._worst = 0.0
        return figures
