"""``concurrency`` and ``rate_limit``: pace a node across every run in the process.

Where the state lives
---------------------
Each decorated function owns one state object (``_Concurrency`` / ``_RateLimit``) shared by
every run, driver, thread and event loop of the process. Nothing in it belongs to one loop:
async callers wait for a concurrency slot on ``SlotLimiter`` (the executors' cross-loop
bound), sync callers on a ``threading.BoundedSemaphore``, and the rate limiter's bookkeeping is
a ``threading.Lock`` never held while anyone sleeps.

The locks, semaphores and buckets are built lazily, on first use, and never pickled: a state
object pickles as its settings plus a token, and unpickling it in a worker process returns
that process's one state for the token (built there on first use). So process workers each
enforce the limit for themselves: ``concurrency(4)`` under ``MultiProcessingExecutor`` with
three workers admits up to 4 calls in each worker. A forked child starts with fresh state.

Why not aiolimiter
------------------
``aiolimiter.AsyncLimiter`` keeps its waiters as futures of one event loop and has no sync
side, while a node's limit must hold across the loops of concurrent ``execute()`` calls, the
threads that run sync nodes and the two call styles. Its leaky bucket also lets up to twice
the rate through in a window after a quiet spell. ``rate_limit`` is a sliding window instead:
at most ``burst`` admissions in any ``burst * per / calls``-second interval. With the default
``burst=1`` that spaces calls evenly, ``per / calls`` apart (what a polite crawler wants);
with ``burst=calls`` it is "at most ``calls`` in any ``per`` seconds", taken in bursts.

The clock and the sleeps go through the module-level ``_monotonic``, ``_sleep`` and
``_asleep``, so that tests can run the limiter on a fake clock.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import inspect
import math
import os
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar, cast

from asyncdag._sync import SlotLimiter
from asyncdag.policies._wrapping import (
    F,
    check_bare_use,
    check_target,
    is_async,
    label,
    waits_off_the_loop,
)

__all__ = ["concurrency", "rate_limit"]

_monotonic: Callable[[], float] = time.monotonic
_sleep: Callable[[float], None] = time.sleep
_asleep: Callable[[float], Any] = asyncio.sleep

# -- one state per decorated function and process ------------------------------------------

_states_lock = threading.Lock()
_states: weakref.WeakValueDictionary[str, _Shared] = weakref.WeakValueDictionary()


class _Shared:
    """Settings, plus the runtime state this process builds for them on first use."""

    __slots__ = ("__weakref__", "_lock", "token")

    def __init__(self, token: str | None = None) -> None:
        self.token = token or uuid.uuid4().hex
        self._lock: threading.Lock | None = None

    def settings(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def reset(self) -> None:
        """Forget the runtime state (after a fork, the parent's is not ours)."""
        self._lock = None

    def lock(self) -> threading.Lock:
        lock = self._lock
        if lock is None:
            with _states_lock:
                if self._lock is None:
                    self.build()
                    self._lock = threading.Lock()
                lock = self._lock
        return lock

    def build(self) -> None:
        """Create the runtime state; called once, under the module lock."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), self.token, self.settings()))


_S = TypeVar("_S", bound=_Shared)


def _restore(cls: type[_Shared], token: str, settings: tuple[Any, ...]) -> _Shared:
    """This process's state for ``token``: the one already here, or a new one."""
    with _states_lock:
        found = _states.get(token)
        if found is None:
            found = _states[token] = cast(Any, cls)(*settings, token=token)
        return found


def _register(state: _S) -> _S:
    with _states_lock:
        _states[state.token] = state
    return state


def _after_fork() -> None:
    global _states_lock
    _states_lock = threading.Lock()  # another thread may have held it at the fork
    for state in list(_states.values()):
        state.reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


# -- concurrency ---------------------------------------------------------------------------


class _Concurrency(_Shared):
    __slots__ = ("_semaphore", "_slots", "limit")

    def __init__(self, limit: int, token: str | None = None) -> None:
        self.limit = limit
        self._slots: SlotLimiter | None = None
        self._semaphore: threading.BoundedSemaphore | None = None
        super().__init__(token)

    def settings(self) -> tuple[Any, ...]:
        return (self.limit,)

    def reset(self) -> None:
        self._slots = self._semaphore = None
        super().reset()

    def build(self) -> None:
        self._slots = SlotLimiter(self.limit)
        self._semaphore = threading.BoundedSemaphore(self.limit)

    def slots(self) -> SlotLimiter:
        if self._lock is None:
            self.lock()
        assert self._slots is not None
        return self._slots

    def semaphore(self) -> threading.BoundedSemaphore:
        if self._lock is None:
            self.lock()
        assert self._semaphore is not None
        return self._semaphore


def concurrency(limit: int) -> Callable[[F], F]:
    """Run at most ``limit`` calls of the node at once, across every run in this process.

    Async calls wait for a slot without blocking the event loop, in arrival order, also across
    event loops (concurrent ``execute()`` calls on different threads). Sync calls wait on the
    thread they run on, which stays occupied meanwhile. Under ``MultiProcessingExecutor`` (and
    the cluster executors) each worker process enforces the limit for itself.

    Raises ``ValueError`` at decoration when ``limit`` is not an int of at least 1, or for a
    generator function.

    Example::

        @concurrency(4)          # the database takes at most 4 queries at once
        async def row(user_id: int, db: asyncpg.Pool) -> dict: ...
    """
    check_bare_use(limit, "concurrency")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"concurrency: limit must be an int of at least 1, got {limit!r}")

    def decorate(fn: F) -> F:
        check_target(fn, "concurrency")
        state = _register(_Concurrency(limit))
        if is_async(fn):

            @functools.wraps(fn)
            async def call_async(*args: Any, **kwargs: Any) -> Any:
                return await _acall_bounded(state, fn, args, kwargs)

            return cast(F, call_async)

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            return _call_bounded(state, fn, args, kwargs)

        return cast(F, waits_off_the_loop(call))

    return decorate


async def _acall_bounded(
    state: _Concurrency, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    slots = state.slots()
    token = object()  # this call is the borrower of its slot
    await slots.acquire(token)
    try:
        return await fn(*args, **kwargs)
    finally:
        slots.release(token)


def _call_bounded(
    state: _Concurrency, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    with state.semaphore():
        return fn(*args, **kwargs)


# -- rate limit ----------------------------------------------------------------------------

#: sweep idle keys once the number of buckets doubles past this
_MIN_SWEEP = 64


class _RateLimit(_Shared):
    """A sliding window per key: admission times, reserved in order.

    Each bucket is a sorted list of admission times (past ones, and future ones reserved by
    callers still sleeping). A new caller is admitted at the earliest time ``t`` that keeps at
    most ``calls`` admissions in any ``per``-second interval: ``t >= bucket[-calls] + per``,
    and no earlier than the last reservation so the list stays sorted. A caller cancelled
    while sleeping gives its reservation back. Times at least ``per`` in the past can no
    longer matter and are dropped. (``rate_limit(calls, per, burst=b)`` makes this window
    ``b`` calls per ``b * per / calls`` seconds.)
    """

    __slots__ = ("_buckets", "_sweep_at", "calls", "per")

    def __init__(self, calls: int, per: float, token: str | None = None) -> None:
        self.calls = calls  # admissions allowed in any window
        self.per = per  # the window, in seconds
        self._buckets: dict[Hashable, list[float]] = {}
        self._sweep_at = _MIN_SWEEP
        super().__init__(token)

    def settings(self) -> tuple[Any, ...]:
        return (self.calls, self.per)

    def reset(self) -> None:
        self._buckets = {}
        self._sweep_at = _MIN_SWEEP
        super().reset()

    def reserve(self, key: Hashable) -> tuple[float, float]:
        """Reserve an admission for ``key``: ``(admission time, now)``."""
        now = _monotonic()
        horizon = now - self.per
        with self.lock():
            times = self._buckets.get(key)
            if times is None:
                if len(self._buckets) >= self._sweep_at:
                    self._sweep(horizon)
                times = self._buckets[key] = []
            else:
                del times[: bisect.bisect_right(times, horizon)]
            at = now
            if times:
                at = max(at, times[-1])
                if len(times) >= self.calls:
                    at = max(at, times[-self.calls] + self.per)
            times.append(at)
        return at, now

    def give_back(self, key: Hashable, at: float) -> None:
        """A reserved caller will not call after all (cancelled while waiting)."""
        with self.lock():
            times = self._buckets.get(key)
            if times:
                i = bisect.bisect_left(times, at)
                if i < len(times) and times[i] == at:
                    del times[i]

    def _sweep(self, horizon: float) -> None:
        idle = [k for k, times in self._buckets.items() if not times or times[-1] <= horizon]
        for k in idle:
            del self._buckets[k]
        self._sweep_at = max(_MIN_SWEEP, 2 * len(self._buckets))


class _KeyOf:
    """Calls the user's ``key`` with the node arguments it names."""

    __slots__ = ("fn", "key", "names")

    def __init__(self, key: Callable[..., Hashable], names: tuple[str, ...] | None, fn: Any):
        self.key = key
        self.names = names  # None: key takes **kwargs, pass them all
        self.fn = fn

    def __call__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Hashable:
        if args:  # called directly, positionally: name the arguments first
            kwargs = dict(inspect.signature(self.fn).bind_partial(*args, **kwargs).arguments)
        if self.names is None:
            return self.key(**kwargs)
        return self.key(**{n: kwargs[n] for n in self.names if n in kwargs})


def _key_of(key: Callable[..., Hashable], fn: Callable[..., Any]) -> _KeyOf:
    """Check at decoration that ``key`` reads only parameters of ``fn``."""
    try:
        key_params = inspect.signature(key).parameters.values()
        fn_params = set(inspect.signature(fn).parameters)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"rate_limit on {label(fn)}: cannot read a signature: {exc}") from exc
    names: list[str] = []
    for p in key_params:
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            return _KeyOf(key, None, fn)
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.VAR_POSITIONAL):
            raise ValueError(
                f"rate_limit on {label(fn)}: key is called with keyword arguments;"
                f" its parameter {p.name!r} cannot take one"
            )
        if p.name not in fn_params:
            raise ValueError(
                f"rate_limit on {label(fn)}: key reads {p.name!r}, which is not a parameter"
                f" of the function (its parameters: {', '.join(sorted(fn_params)) or 'none'})"
            )
        names.append(p.name)
    return _KeyOf(key, tuple(names), fn)


def rate_limit(
    calls: int,
    per: float = 1.0,
    *,
    key: Callable[..., Hashable] | None = None,
    burst: int = 1,
) -> Callable[[F], F]:
    """Start ``calls`` calls of the node per ``per`` seconds, evenly spaced, per process.

    By default the calls are spaced evenly: one every ``per / calls`` seconds (``rate_limit(5)``
    starts a call every 0.2 s, never five at once). ``burst=b`` lets up to ``b`` calls start
    together: at most ``b`` calls in any ``b * per / calls`` seconds, so the long-run rate is
    the same and ``burst=calls`` means "at most ``calls`` in any ``per``-second interval",
    taken all at once when they are waiting.

    Callers over the limit wait (async ones with ``asyncio.sleep``, sync ones with
    ``time.sleep`` on their thread) and are admitted in arrival order; a waiting async caller
    that is cancelled gives its turn back. The limit holds across every run, thread and event
    loop of the process; under ``MultiProcessingExecutor`` each worker process keeps its own.
    Async turns are as exact as the event loop's timers (uvloop's tick is a millisecond).

    ``key`` splits the limit into one window per key. It is called with the node's arguments
    that it names (or all of them, if it takes ``**kwargs``) and returns a hashable, e.g.
    the host of a URL, so that each host gets ``calls`` per ``per`` seconds.

    Raises ``ValueError`` at decoration when ``calls`` is not an int of at least 1, ``per`` is
    not a positive finite number, ``burst`` is not an int from 1 to ``calls``, ``key`` names a
    parameter the function does not have, or for a generator function.

    Example::

        @rate_limit(5, per=1.0, key=lambda url: urllib.parse.urlsplit(url).hostname)
        async def page(url: str, client: httpx.AsyncClient) -> str:   # 1 call / 0.2 s a host
            return (await client.get(url)).text
    """
    check_bare_use(calls, "rate_limit")
    if isinstance(calls, bool) or not isinstance(calls, int) or calls < 1:
        raise ValueError(f"rate_limit: calls must be an int of at least 1, got {calls!r}")
    if isinstance(per, bool) or not isinstance(per, int | float) or not (0 < per < math.inf):
        raise ValueError(f"rate_limit: per must be a positive finite number, got {per!r}")
    if isinstance(burst, bool) or not isinstance(burst, int) or not 1 <= burst <= calls:
        raise ValueError(
            f"rate_limit: burst must be an int from 1 (evenly spaced calls) to calls ({calls}),"
            f" got {burst!r}"
        )
    if key is not None and not callable(key):
        raise TypeError(f"rate_limit: key must be a callable, got {key!r}")
    window = burst * float(per) / calls

    def decorate(fn: F) -> F:
        check_target(fn, "rate_limit")
        key_of = _key_of(key, fn) if key is not None else None
        state = _register(_RateLimit(burst, window))
        if is_async(fn):

            @functools.wraps(fn)
            async def call_async(*args: Any, **kwargs: Any) -> Any:
                return await _acall_paced(state, key_of, fn, args, kwargs)

            return cast(F, call_async)

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            return _call_paced(state, key_of, fn, args, kwargs)

        return cast(F, waits_off_the_loop(call))

    return decorate


async def _acall_paced(
    state: _RateLimit,
    key_of: _KeyOf | None,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    key = key_of(args, kwargs) if key_of is not None else None
    at, now = state.reserve(key)
    if at > now:
        try:
            await _asleep(at - now)
        except BaseException:
            state.give_back(key, at)
            raise
    return await fn(*args, **kwargs)


def _call_paced(
    state: _RateLimit,
    key_of: _KeyOf | None,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    key = key_of(args, kwargs) if key_of is not None else None
    at, now = state.reserve(key)
    if at > now:
        _sleep(at - now)
    return fn(*args, **kwargs)
