"""How the web app is served: uvicorn with bounds that hold against slow and idle clients.

- **A header timeout** (``HEADER_TIMEOUT``, 10 s): a connection whose request headers are
  not complete that long after the request began is closed. uvicorn has no such timeout of
  its own (its keep-alive timer runs only between requests), so a slowloris client — one that
  sends a header byte every few seconds — would hold its connection, and its slot, forever.
  ``HeaderTimeoutProtocol`` adds it to uvicorn's httptools protocol.
- **A keep-alive timeout** (``KEEP_ALIVE_TIMEOUT``, 5 s): an idle connection between
  requests is closed (uvicorn's ``timeout_keep_alive``).
- **A concurrency limit** (``LIMIT_CONCURRENCY``, 1,000): past that many open connections
  (or requests in progress), a new request is answered 503 at once instead of queueing
  (uvicorn's ``limit_concurrency``). With the header timeout, slow clients can take the slots
  for at most ``HEADER_TIMEOUT`` seconds each, then the server serves others again.

The request body's own bounds (size, read time, JSON depth) are the app's: see ``app.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT = 10.0
KEEP_ALIVE_TIMEOUT = 5.0
LIMIT_CONCURRENCY = 1000


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection whose request headers take longer
    than ``header_timeout`` seconds from the request's first byte (or from the connection
    being made) to their end."""

    header_timeout = HEADER_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.logger.info("closing a connection whose request headers were too slow")
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()  # the first request's headers must come in time

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._disarm_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)


def config(
    app: Any,
    *,
    header_timeout: float = HEADER_TIMEOUT,
    keep_alive_timeout: float = KEEP_ALIVE_TIMEOUT,
    limit_concurrency: int = LIMIT_CONCURRENCY,
    log_level: str = "info",
) -> uvicorn.Config:
    """The uvicorn configuration the app runs with (tests pass shorter timeouts)."""
    protocol = type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {})
    protocol.header_timeout = header_timeout
    return uvicorn.Config(
        app,
        http=protocol,
        timeout_keep_alive=keep_alive_timeout,
        limit_concurrency=limit_concurrency,
        log_level=log_level,
        access_log=False,
        lifespan="on",
    )
