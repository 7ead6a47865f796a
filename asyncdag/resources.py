"""Per-worker resources: objects that cannot (or should not) be pickled.

An HTTP session, a database client or a loaded model is built once per worker and reused by
every task that runs there — per worker process on ``MultiProcessingExecutor`` and cluster
executors, once per driver for threads, once per event loop when the function is async. Its
value never travels; only the function and its arguments do (they must pickle).

Write the function as a generator to have it torn down when the driver (or the worker) closes::

    import requests
    from asyncdag.resources import per_worker

    @per_worker
    def session(user_agent: str) -> Iterator[requests.Session]:
        s = requests.Session()
        s.headers["User-Agent"] = user_agent
        yield s
        s.close()

    def page(url: str, session: requests.Session) -> str:
        return session.get(url).text

Rules: a per-worker node sits outside any Parallelizable block; its parameters are plain
values (inputs, config, outer nodes). An ``async def`` (or async generator) resource can only
be read by async nodes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["PER_WORKER_TAG", "per_worker"]

#: The tag a per-worker node carries (``list_available_variables`` shows it).
PER_WORKER_TAG = "asyncdag.per_worker"

_F = TypeVar("_F", bound=Callable[..., Any])


def per_worker(fn: _F) -> _F:
    """Mark ``fn`` as a node whose value is built once per worker and never pickled."""
    fn.__asyncdag_per_worker__ = True  # type: ignore[attr-defined]
    return fn
