"""``retry``: call a node again when it raises, with exponential backoff and full jitter.

Written here rather than taken from tenacity or stamina: the whole policy is a loop of a
dozen lines, and asyncdag's runtime dependencies are kept to anyio, uvloop, cloudpickle and
aiofiles. Both libraries would also need adapting rather than saving code: the wrapper must
keep the node's call style (``async def`` stays ``async def``, sync code sleeps on its own
thread), let the last exception propagate unchanged so the engine names the node and item,
never catch cancellation, and travel to process workers with cloudpickle. tenacity's retrying
objects carry statistics and thread-locals shared by every call; stamina adds structlog /
prometheus instrumentation hooks and a global on/off switch that a per-node policy does not
need.

The sleeps go through the module-level ``_sleep`` / ``_asleep`` and the jitter through
``_jitter``, so that tests can record them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from asyncdag.policies._wrapping import (
    F,
    check_bare_use,
    check_target,
    is_async,
    label,
    waits_off_the_loop,
)

__all__ = ["retry"]

logger = logging.getLogger("asyncdag")

_sleep: Callable[[float], None] = time.sleep
_asleep: Callable[[float], Any] = asyncio.sleep
_jitter: Callable[[float, float], float] = random.uniform


@dataclass(frozen=True)
class _RetryPolicy:
    attempts: int
    backoff: float
    max_backoff: float
    jitter: bool
    on: tuple[type[Exception], ...]
    giveup: Callable[[Exception], bool] | None

    def delay(self, retry: int) -> float:
        """The pause before retry number ``retry`` (1 for the second attempt)."""
        cap = min(self.max_backoff, self.backoff * 2.0 ** min(retry - 1, 64))
        return _jitter(0.0, cap) if self.jitter else cap

    def next_delay(self, fn: Callable[..., Any], exc: Exception, retry: int) -> float | None:
        """The pause before retry number ``retry`` after ``exc``, or None to give up."""
        if retry >= self.attempts or (self.giveup is not None and self.giveup(exc)):
            return None
        delay = self.delay(retry)
        logger.debug(
            "%s raised %s: %s; attempt %d of %d in %.3g s",
            label(fn),
            type(exc).__name__,
            exc,
            retry + 1,
            self.attempts,
            delay,
        )
        return delay


def retry(
    attempts: int = 3,
    *,
    backoff: float = 0.1,
    max_backoff: float = 10.0,
    jitter: bool = True,
    on: type[Exception] | tuple[type[Exception], ...] = (Exception,),
    giveup: Callable[[Exception], bool] | None = None,
) -> Callable[[F], F]:
    """Call the node up to ``attempts`` times while it raises one of the ``on`` exceptions.

    Before retry ``k`` (``k = 1`` for the second attempt) it waits up to
    ``min(max_backoff, backoff * 2 ** (k - 1))`` seconds: exactly that with ``jitter=False``,
    a uniformly random part of it with ``jitter=True`` ("full jitter", which spreads the
    retries of many items failing together). Async functions wait with ``asyncio.sleep``;
    sync ones with ``time.sleep`` on the thread they run on.

    An exception that is not an ``on`` type, or for which ``giveup(exc)`` returns true, is not
    retried. When the node gives up, its last exception propagates unchanged, so the run
    fails with ``NodeExecutionError`` naming the node and item, with that exception as
    ``__cause__`` (or the item's ``on_error`` policy applies). Cancellation is never retried.

    Raises ``ValueError`` at decoration for an ``attempts`` below 1, a negative or infinite
    ``backoff``, ``max_backoff`` below 0, an ``on`` that is not made of Exception subclasses,
    or a generator function.

    Example::

        @retry(5, backoff=0.5, on=(httpx.TransportError,))
        async def page(url: str, client: httpx.AsyncClient) -> str:
            return (await client.get(url)).text
    """
    check_bare_use(attempts, "retry")
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ValueError(f"retry: attempts must be an int of at least 1, got {attempts!r}")
    if not (0.0 <= backoff < math.inf):
        raise ValueError(f"retry: backoff must be a finite number >= 0, got {backoff!r}")
    if not (0.0 <= max_backoff < math.inf):
        raise ValueError(f"retry: max_backoff must be a finite number >= 0, got {max_backoff!r}")
    on_types = on if isinstance(on, tuple) else (on,)
    if not on_types or not all(isinstance(t, type) and issubclass(t, Exception) for t in on_types):
        raise ValueError(
            "retry: on must be an Exception subclass or a non-empty tuple of them (never"
            f" BaseException: cancellation is not retried), got {on!r}"
        )
    if giveup is not None and not callable(giveup):
        raise TypeError(f"retry: giveup must be a callable taking the exception, got {giveup!r}")
    policy = _RetryPolicy(attempts, float(backoff), float(max_backoff), jitter, on_types, giveup)

    def decorate(fn: F) -> F:
        check_target(fn, "retry")
        if is_async(fn):

            @functools.wraps(fn)
            async def call_async(*args: Any, **kwargs: Any) -> Any:
                return await _acall(policy, fn, args, kwargs)

            return cast(F, call_async)

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            return _call(policy, fn, args, kwargs)

        return cast(F, waits_off_the_loop(call))

    return decorate


def _call(
    policy: _RetryPolicy, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    retry = 0
    while True:
        try:
            return fn(*args, **kwargs)
        except policy.on as exc:
            retry += 1
            delay = policy.next_delay(fn, exc, retry)
            if delay is None:
                raise
        # sleep outside the except block: the next attempt's exception gets no __context__
        _sleep(delay)


async def _acall(
    policy: _RetryPolicy, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    retry = 0
    while True:
        try:
            return await fn(*args, **kwargs)
        except policy.on as exc:
            retry += 1
            delay = policy.next_delay(fn, exc, retry)
            if delay is None:
                raise
        await _asleep(delay)
