"""``timeout``: give up on a node call that runs past a limit.

An async call runs inside an anyio cancel scope with a deadline (``anyio.move_on_after``):
anyio already tells its own deadline apart from a cancellation of the run on every Python
asyncdag supports, where ``asyncio.timeout`` needs 3.11 and ``asyncio.wait_for`` on 3.10 wraps
the call in a task of its own and can swallow a cancellation that races the deadline.

A sync call cannot be interrupted, so it runs on a helper thread while the caller waits until
the deadline; at the deadline the caller stops waiting and the thread is abandoned (it is a
daemon thread: it finishes in the background, its result is dropped, and it never holds the
interpreter's exit). That costs one thread start per call.

On timeout the wrapper raises the builtin ``TimeoutError`` with a message naming the limit.
The engine wraps it, like any exception from user code, in ``NodeExecutionError`` naming the
node and the item's index, with the ``TimeoutError`` as ``__cause__``, and the node's
``on_error`` policy applies. (Raising ``asyncdag.errors.NodeTimeoutError`` from here would
lose the item index: the wrapper does not know it, and the engine passes asyncdag's own errors
through untouched.)
"""

from __future__ import annotations

import contextvars
import functools
import math
import threading
from collections.abc import Callable
from typing import Any, cast

import anyio

from asyncdag.policies._wrapping import (
    F,
    check_bare_use,
    check_target,
    is_async,
    waits_off_the_loop,
)

__all__ = ["timeout"]


def timeout(seconds: float) -> Callable[[F], F]:
    """Fail the node's call with ``TimeoutError`` when it runs longer than ``seconds``.

    Async functions are cancelled at the deadline. Sync functions run on a helper thread that
    is abandoned at the deadline: the work goes on in the background and its result is
    dropped, so give sync code its own timeouts (socket, HTTP client) where it has them, and
    use this as the backstop.

    Raises ``ValueError`` at decoration when ``seconds`` is not a positive finite number, or
    for a generator function.

    Example::

        @timeout(2.5)
        async def page(url: str, client: httpx.AsyncClient) -> str:
            return (await client.get(url)).text
    """
    check_bare_use(seconds, "timeout")
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not (0 < seconds < math.inf)
    ):
        raise ValueError(f"timeout: seconds must be a positive finite number, got {seconds!r}")
    limit = float(seconds)

    def decorate(fn: F) -> F:
        check_target(fn, "timeout")
        if is_async(fn):

            @functools.wraps(fn)
            async def call_async(*args: Any, **kwargs: Any) -> Any:
                return await _acall(limit, fn, args, kwargs)

            return cast(F, call_async)

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            return _call(limit, fn, args, kwargs)

        return cast(F, waits_off_the_loop(call))

    return decorate


def _timed_out(limit: float) -> TimeoutError:
    return TimeoutError(f"no result within the {limit:g} s timeout")


async def _acall(
    limit: float, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    with anyio.move_on_after(limit):
        return await fn(*args, **kwargs)
    # only the scope's own deadline gets here: a cancellation of the run propagates
    raise _timed_out(limit)


class _Outcome:
    """The result of a call on a helper thread, once ``done`` is set."""

    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


def _call(
    limit: float, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    outcome = _Outcome()
    context = contextvars.copy_context()

    def run() -> None:
        try:
            outcome.value = context.run(fn, *args, **kwargs)
        except BaseException as exc:
            outcome.error = exc
        finally:
            outcome.done.set()

    name = f"asyncdag-timeout-{getattr(fn, '__name__', 'call')}"
    threading.Thread(target=run, name=name, daemon=True).start()
    if not outcome.done.wait(limit):
        raise _timed_out(limit)
    if outcome.error is not None:
        error, outcome.error = outcome.error, None  # no reference cycle through the traceback
        raise error
    return outcome.value
