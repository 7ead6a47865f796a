"""The callables the cache puts in place of node functions, one kind per call style.

``wrap(fn, spec)`` returns a function that the engine calls exactly as it would call ``fn``
(keyword arguments named after the node's parameters), wherever the node runs: on the loop,
on an executor's thread, in a worker process. A sync node gets a sync wrapper, an async node
an ``async def``, a generator expander a generator function, an async expander an async
generator function. A plain node's wrapper also carries a
:class:`~asyncdag.caching._nodecall.StepMemo` (``__asyncdag_memo__``): where the engine
can, it calls the node through that instead, with no wrapper frame. Each body only calls a
module-level function (of
:mod:`~asyncdag.caching._nodecall` or :mod:`~asyncdag.caching._expand`): when cloudpickle
ships a wrapper by value to a worker, those travel by reference.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from typing import Any

from asyncdag.caching._expand import expand_async, expand_sync
from asyncdag.caching._memo_route import StepMemo
from asyncdag.caching._nodecall import after_stream, call_async, call_sync
from asyncdag.caching._spec import NodeSpec, Role

__all__ = ["NodeSpec", "Role", "wrap"]


def wrap(fn: Callable[..., Any], spec: NodeSpec, *, is_async: bool, is_expander: bool) -> Any:
    """The wrapper of ``fn`` for ``spec``, in ``fn``'s call style."""
    if is_expander:
        if is_async:

            @functools.wraps(fn)
            async def cached_async_expander(**kwargs: Any) -> AsyncIterator[Any]:
                source: AsyncGenerator[Any, None] = expand_async(spec, fn, kwargs)
                try:
                    async for item in source:
                        yield item
                finally:
                    await source.aclose()

            return cached_async_expander

        @functools.wraps(fn)
        def cached_expander(**kwargs: Any) -> Iterator[Any]:
            yield from expand_sync(spec, fn, kwargs)

        return cached_expander
    if spec.streaming:
        if is_async:

            @functools.wraps(fn)
            async def stream_async(**kwargs: Any) -> Any:
                return after_stream(spec, await fn(**kwargs))

            return stream_async

        @functools.wraps(fn)
        def stream_sync(**kwargs: Any) -> Any:
            return after_stream(spec, fn(**kwargs))

        return stream_sync
    if is_async:

        @functools.wraps(fn)
        async def cached_async(**kwargs: Any) -> Any:
            return await call_async(spec, fn, kwargs)

        cached_async.__asyncdag_memo__ = StepMemo(spec, fn, cached_async)  # type: ignore[attr-defined]
        return cached_async

    @functools.wraps(fn)
    def cached(**kwargs: Any) -> Any:
        return call_sync(spec, fn, kwargs)

    cached.__asyncdag_memo__ = StepMemo(spec, fn, cached)  # type: ignore[attr-defined]
    return cached
