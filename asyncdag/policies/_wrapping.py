"""What the policy decorators share: which functions they accept and how a wrapper is typed.

A policy wraps the node's function with ``functools.wraps``, so the node keeps its name,
module, docstring, signature and annotations (the graph builder follows ``__wrapped__``), and
an ``async def`` stays an ``async def``: the wrapper is async exactly when the unwrapped
function is, which is how the engine decides ``Node.is_async``.

Wrapper bodies only call module-level helpers. When cloudpickle ships a wrapper by value (a
closure, a function of ``__main__``), the module-level names its code reads travel with it; a
helper function travels by reference and its own globals (locks, clocks) stay behind.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = [
    "WAITS_TAG",
    "F",
    "check_bare_use",
    "check_target",
    "is_async",
    "label",
    "waits_off_the_loop",
]

F = TypeVar("F", bound=Callable[..., Any])


def label(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None) or "?"
    return f"{module}.{getattr(fn, '__qualname__', getattr(fn, '__name__', repr(fn)))}"


def is_async(fn: Callable[..., Any]) -> bool:
    """Whether the engine awaits ``fn`` (the same test as the graph builder's)."""
    return inspect.iscoroutinefunction(inspect.unwrap(fn))


def check_target(fn: Any, decorator: str) -> None:
    """``fn`` is a function a policy can wrap: callable, and not a generator function.

    A generator's items have already gone downstream when it fails or stalls, so it cannot be
    retried, timed out or paced as one call. An expander that *returns* an iterable is fine.
    """
    if not callable(fn):
        raise TypeError(f"@{decorator} decorates a function, not {fn!r}")
    target = inspect.unwrap(fn)
    if inspect.isgeneratorfunction(target) or inspect.isasyncgenfunction(target):
        raise ValueError(
            f"@{decorator} on {label(fn)}: a generator function cannot take this policy (its"
            " items are already downstream when it fails or stalls); put the policy on the"
            " nodes that read its items, or return a list instead of yielding"
        )


def check_bare_use(arg: object, decorator: str) -> None:
    """``@retry`` written without parentheses passes the function as the first argument."""
    if callable(arg):
        raise TypeError(f"write @{decorator}(...) with its arguments, not bare @{decorator}")


#: set on sync nodes whose policy may wait (sleep between retries, wait for a slot or a rate
#: window): the engine never runs them inline on an event loop's thread, even in ``execute()``
WAITS_TAG = "asyncdag.waits"


def waits_off_the_loop(wrapper: Callable[..., Any]) -> Callable[..., Any]:
    """Tag a sync policy wrapper so that the engine runs it on a thread."""
    tags = dict(getattr(wrapper, "__asyncdag_tags__", {}))
    tags[WAITS_TAG] = True
    wrapper.__asyncdag_tags__ = tags  # type: ignore[attr-defined]
    return wrapper
