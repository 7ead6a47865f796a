"""``retry``: call a node again when it raises (or returns what ``on_result`` rejects), with
exponential backoff and full jitter, or with the pause a ``wait`` function reads off the error
(a server's ``Retry-After``).

Written here rather than taken from tenacity or stamina: the whole policy is a loop of a
dozen lines, and asyncdag's runtime dependencies are kept to anyio, uvloop, cloudpickle and
aiofiles. Both libraries would also need adapting rather than saving code: the wrapper must
keep the node's call style (``async def`` stays ``async def``, sync code sleeps on its own
thread), let the last exception propagate unchanged so the engine names the node and item,
never catch cancellation, and travel to process workers with cloudpickle. tenacity's retrying
objects carry statistics and thread-locals shared by every call; stamina adds structlog /
prometheus instrumentation hooks and a global on/off switch that a per-node policy does not
need.

Who hears of a retry: the ``"asyncdag"`` logger, at INFO, one line naming the node, the item
(index and label) and the pause; and, inside a run, the engine, through the node call's
:meth:`asyncdag._calls.CallInfo.retrying`, which counts the attempt and turns it into a
``run_before_node_retry`` hook call (relayed to the parent when the node runs in a worker
process). For a retried *result* the hook's ``error`` is ``None``.

The sleeps go through the module-level ``_sleep`` / ``_asleep``, the jitter through
``_jitter`` and the wall clock of HTTP dates through ``_now``, so that tests can record them.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from asyncdag._calls import current_call
from asyncdag.policies._wrapping import (
    F,
    check_bare_use,
    check_target,
    is_async,
    label,
    waits_off_the_loop,
)

__all__ = ["Attempt", "retry", "retry_after"]

logger = logging.getLogger("asyncdag")

_sleep: Callable[[float], None] = time.sleep
_asleep: Callable[[float], Any] = asyncio.sleep
_jitter: Callable[[float, float], float] = random.uniform
_now: Callable[[], float] = time.time

_REPR_LIMIT = 80


@dataclass(frozen=True)
class Attempt:
    """An attempt that ended in a way ``retry`` retries: what a ``wait`` function reads.

    Attributes:
        number: which attempt it was (1 for the first call).
        error: the exception it raised, or ``None`` when it returned a ``result`` that
            ``on_result`` asked to retry.
        result: what it returned (``None`` when it raised).
        backoff: the pause the exponential backoff proposes before the next attempt.
    """

    number: int
    error: Exception | None
    result: Any
    backoff: float


def retry_after(attempt: Attempt) -> float | None:
    """The pause a server asked for in a ``Retry-After``, for ``retry(wait=retry_after)``.

    Looks at the attempt's error (or, for a retried result, at the result) for, in order: a
    ``retry_after`` attribute (seconds, or the header's text); ``headers["Retry-After"]``
    (aiohttp's ``ClientResponseError``); ``response.headers["Retry-After"]`` (httpx's
    ``HTTPStatusError``, requests' ``HTTPError``). The value may be seconds (``"120"``,
    ``2.5``) or an HTTP date. Returns ``None`` when there is none or it does not parse, so the
    exponential backoff applies.

    Example::

        @retry(6, on=RateLimited, wait=retry_after, max_backoff=60)
        async def page(url: str) -> str: ...
    """
    subject = attempt.error if attempt.error is not None else attempt.result
    if subject is None:
        return None
    value = getattr(subject, "retry_after", None)
    if value is None:
        value = _header(getattr(subject, "headers", None))
    if value is None:
        value = _header(getattr(getattr(subject, "response", None), "headers", None))
    return _seconds(value)


def _header(headers: Any) -> Any:
    if headers is None or not callable(getattr(headers, "get", None)):
        return None
    value = headers.get("Retry-After")
    if value is None and isinstance(headers, Mapping):  # a plain dict: any capitalisation
        value = next((v for k, v in headers.items() if str(k).lower() == "retry-after"), None)
    return value


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str | bytes):
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        text = text.strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                return None
            if when.tzinfo is None:  # an HTTP date is always GMT
                return None
            seconds = when.timestamp() - _now()
    else:
        return None
    if math.isnan(seconds):
        return None
    return max(seconds, 0.0)


@dataclass(frozen=True)
class _RetryPolicy:
    attempts: int
    backoff: float
    max_backoff: float
    jitter: bool
    on: tuple[type[Exception], ...]
    giveup: Callable[[Exception], bool] | None
    wait: Callable[[Attempt], float | None] | None
    on_result: Callable[[Any], bool] | None

    def delay(self, retry: int) -> float:
        """The backoff before retry number ``retry`` (1 for the second attempt)."""
        cap = min(self.max_backoff, self.backoff * 2.0 ** min(retry - 1, 64))
        return _jitter(0.0, cap) if self.jitter else cap

    def after_error(self, fn: Callable[..., Any], exc: Exception, attempt: int) -> float | None:
        """The pause before the attempt after ``attempt``, which raised ``exc``; None: give
        up."""
        if self.giveup is not None and self.giveup(exc):
            return None
        return self._next(fn, attempt, exc, None)

    def rejects(self, result: Any) -> bool:
        return self.on_result is not None and bool(self.on_result(result))

    def after_result(self, fn: Callable[..., Any], result: Any, attempt: int) -> float | None:
        """The pause before the attempt after ``attempt``, whose ``result`` was rejected."""
        delay = self._next(fn, attempt, None, result)
        if delay is None:
            logger.info(
                "%s: on_result still rejects the result after %d attempts (%s); returning it",
                _who(fn),
                attempt,
                _short(result),
            )
        return delay

    def _next(
        self, fn: Callable[..., Any], attempt: int, error: Exception | None, result: Any
    ) -> float | None:
        if attempt >= self.attempts:
            return None
        delay = self.delay(attempt)
        if self.wait is not None:
            asked = self.wait(Attempt(attempt, error, result, delay))
            if asked is not None:
                if (
                    isinstance(asked, bool)
                    or not isinstance(asked, int | float)
                    or not asked >= 0  # also NaN
                ):
                    raise ValueError(
                        f"retry on {label(fn)}: wait returned {asked!r}; it must return"
                        " seconds (a number >= 0) or None for the backoff"
                    )
                if asked > self.max_backoff:
                    # sooner would be impolite (and likely refused again); longer is more
                    # than this node was allowed to wait
                    logger.info(
                        "%s: gives up: wait asks for %.3g s before attempt %d, more than"
                        " max_backoff (%.3g s)",
                        _who(fn),
                        asked,
                        attempt + 1,
                        self.max_backoff,
                    )
                    return None
                delay = float(asked)
        _announce(fn, self.attempts, attempt + 1, error, result, delay)
        return delay


def _who(fn: Callable[..., Any]) -> str:
    """The node and item a log line is about: from the node call, else the function."""
    call = current_call()
    if call is None:
        return label(fn)
    item = f" {call.index}" if call.index else ""
    if call.label is not None:
        item += f" {call.label}"
    return f"{call.node}{item}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _REPR_LIMIT else text[: _REPR_LIMIT - 3] + "..."


def _announce(
    fn: Callable[..., Any],
    attempts: int,
    next_attempt: int,
    error: Exception | None,
    result: Any,
    delay: float,
) -> None:
    """Tell the log, and the engine through the node call, that attempt ``next_attempt`` is
    coming after ``delay`` seconds."""
    why = f"{type(error).__name__}: {error}" if error is not None else f"result {_short(result)}"
    logger.info(
        "%s: attempt %d of %d in %.3g s after %s",
        _who(fn),
        next_attempt,
        attempts,
        delay,
        why,
    )
    call = current_call()
    if call is not None:
        # the engine counts the attempt and tells the hooks (relayed from worker processes)
        call.retrying(error, delay)  # error None: a retried result


def retry(
    attempts: int = 3,
    *,
    backoff: float = 0.1,
    max_backoff: float = 10.0,
    jitter: bool = True,
    on: type[Exception] | tuple[type[Exception], ...] = (Exception,),
    giveup: Callable[[Exception], bool] | None = None,
    wait: Callable[[Attempt], float | None] | None = None,
    on_result: Callable[[Any], bool] | None = None,
) -> Callable[[F], F]:
    """Call the node up to ``attempts`` times while it raises one of the ``on`` exceptions
    (or returns a value ``on_result`` rejects).

    Before retry ``k`` (``k = 1`` for the second attempt) it waits up to
    ``min(max_backoff, backoff * 2 ** (k - 1))`` seconds: exactly that with ``jitter=False``,
    a uniformly random part of it with ``jitter=True`` ("full jitter", which spreads the
    retries of many items failing together). Async functions wait with ``asyncio.sleep``;
    sync ones with ``time.sleep`` on the thread they run on.

    ``wait``, when given, chooses the pause instead: it is called with an :class:`Attempt`
    (the attempt's number, its error or result, and the backoff's proposal) and returns
    seconds, or ``None`` for the backoff. :func:`retry_after` reads a server's
    ``Retry-After``. A pause longer than ``max_backoff`` is not shortened: the node gives up
    (retrying before the server allows would be refused again).

    ``on_result`` is a predicate on what the node returns: while it is true, the call is
    tried again like after an error; when the attempts run out, the last result is returned.

    An exception that is not an ``on`` type, or for which ``giveup(exc)`` returns true, is not
    retried. When the node gives up, its last exception propagates unchanged, so the run
    fails with ``NodeExecutionError`` naming the node and item, with that exception as
    ``__cause__`` (or the item's ``on_error`` policy applies). Cancellation is never retried.

    Each retry is logged at INFO on the ``"asyncdag"`` logger with the node and the item's
    label, and inside a run the attempt about to start is ``current_call().attempt`` (what
    hooks see as ``run_before_node_retry`` and ``attempts``).

    Raises ``ValueError`` at decoration for an ``attempts`` below 1, a negative or infinite
    ``backoff``, ``max_backoff`` below 0, an ``on`` that is not made of Exception subclasses,
    or a generator function; ``TypeError`` for a ``giveup``, ``wait`` or ``on_result`` that is
    not callable.

    Example::

        @retry(5, backoff=0.5, on=(httpx.TransportError, httpx.HTTPStatusError),
               wait=retry_after, on_result=lambda text: text == "")
        async def page(url: str, client: httpx.AsyncClient) -> str:
            return (await client.get(url)).raise_for_status().text
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
    for name, given in (("giveup", giveup), ("wait", wait), ("on_result", on_result)):
        if given is not None and not callable(given):
            what = {"giveup": "the exception", "wait": "an Attempt", "on_result": "the result"}
            raise TypeError(f"retry: {name} must be a callable taking {what[name]}, got {given!r}")
    policy = _RetryPolicy(
        attempts, float(backoff), float(max_backoff), jitter, on_types, giveup, wait, on_result
    )

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
    attempt = 0
    while True:
        attempt += 1
        try:
            result = fn(*args, **kwargs)
        except policy.on as exc:
            delay = policy.after_error(fn, exc, attempt)
            if delay is None:
                raise
        else:
            if not policy.rejects(result):
                return result
            delay = policy.after_result(fn, result, attempt)
            if delay is None:
                return result
        # sleep outside the except block: the next attempt's exception gets no __context__
        _sleep(delay)


async def _acall(
    policy: _RetryPolicy, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    attempt = 0
    while True:
        attempt += 1
        try:
            result = await fn(*args, **kwargs)
        except policy.on as exc:
            delay = policy.after_error(fn, exc, attempt)
            if delay is None:
                raise
        else:
            if not policy.rejects(result):
                return result
            delay = policy.after_result(fn, result, attempt)
            if delay is None:
                return result
        await _asleep(delay)
