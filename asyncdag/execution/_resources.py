"""Per-worker resources: values built once where they are used, never pickled.

A node marked with ``asyncdag.resources.per_worker`` does not compute its value in the run;
it produces a ``ResourceRef`` (its function and arguments), which is cheap to pickle. Steps
that read it get the real object from the ``ResourceCache`` of the place they run in: the
driver's cache for the event loop and its threads, a process-wide cache in a worker process.
A sync factory's object is shared by the threads of that place; an async factory's object
belongs to one event loop (clients such as ``aiohttp.ClientSession`` are loop-bound), so it
is built once per loop. A generator factory is torn down by resuming it after its ``yield``
when the cache closes (``Driver.close()``, or a worker's exit).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from typing import Any

import cloudpickle

from asyncdag.errors import NodeExecutionError, node_error

__all__ = [
    "WORKER_RESOURCES",
    "ResourceCache",
    "ResourceRef",
    "make_ref",
    "resolve_async",
    "resolve_sync",
]


class ResourceRef:
    """What a per-worker node's value is while it travels: how to build the real object."""

    __slots__ = ("factory", "is_async", "key", "kwargs", "name")

    def __init__(
        self, name: str, factory: Callable[..., Any], kwargs: dict[str, Any], is_async: bool
    ) -> None:
        self.name = name
        self.factory = factory
        self.kwargs = kwargs
        self.is_async = is_async
        try:
            self.key = (name, cloudpickle.dumps(kwargs))
        except Exception:
            self.key = (name, repr(sorted(kwargs.items())).encode())

    def __getstate__(self) -> tuple[Any, ...]:
        return (self.name, self.factory, self.kwargs, self.is_async, self.key)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.name, self.factory, self.kwargs, self.is_async, self.key = state

    def __repr__(self) -> str:
        return f"<per-worker resource {self.name!r}>"


def make_ref(name: str, factory: Callable[..., Any], is_async: bool, **kwargs: Any) -> ResourceRef:
    return ResourceRef(name, factory, kwargs, is_async)


class ResourceCache:
    """The resources built in one place (a driver's loop and threads, or a worker process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sync: dict[Any, Any] = {}
        self._async: dict[tuple[int, Any], Any] = {}
        self._teardown: list[Any] = []  # sync generators to resume
        self._ateardown: list[tuple[asyncio.AbstractEventLoop, Any]] = []
        self._building: dict[tuple[int, Any], asyncio.Future[Any]] = {}

    def get(self, ref: ResourceRef) -> Any:
        """The object of a sync resource, built on first use (thread-safe)."""
        if ref.is_async:
            raise NodeExecutionError(
                ref.name,
                (),
                "this per-worker resource is async, so only async nodes can read it; make the"
                " reading node `async def`, or the resource's function sync",
            )
        found = self._sync.get(ref.key, _MISSING)
        if found is not _MISSING:
            return found
        with self._lock:
            found = self._sync.get(ref.key, _MISSING)
            if found is _MISSING:
                found = self._build_sync(ref)
                self._sync[ref.key] = found
            return found

    def _build_sync(self, ref: ResourceRef) -> Any:
        try:
            made = ref.factory(**ref.kwargs)
            if inspect.isgenerator(made):
                gen = made
                made = next(gen)
                self._teardown.append(gen)
        except Exception as exc:
            raise node_error(ref.name, (), exc) from exc
        return made

    async def aget(self, ref: ResourceRef) -> Any:
        """The object of a resource for the running loop (async factories: one per loop).

        Concurrent readers wait for the one that builds it. If that builder fails, they all
        get its error; if it is cancelled, the next waiter builds it instead.
        """
        if not ref.is_async:
            return self.get(ref)
        loop = asyncio.get_running_loop()
        slot = (id(loop), ref.key)
        while True:
            found = self._async.get(slot, _MISSING)
            if found is not _MISSING:
                return found
            building = self._building.get(slot)
            if building is None:
                return await self._abuild(ref, loop, slot)
            try:
                return await asyncio.shield(building)
            except asyncio.CancelledError:
                if not building.cancelled():
                    raise  # this waiter itself is cancelled
                # the builder was cancelled: try again (this waiter may build it)

    async def _abuild(
        self, ref: ResourceRef, loop: asyncio.AbstractEventLoop, slot: tuple[int, Any]
    ) -> Any:
        fut: asyncio.Future[Any] = loop.create_future()
        self._building[slot] = fut
        try:
            made = ref.factory(**ref.kwargs)
            if inspect.isasyncgen(made):
                agen = made
                made = await agen.__anext__()
                self._ateardown.append((loop, agen))
            elif inspect.isawaitable(made):
                made = await made
        except Exception as exc:
            err = node_error(ref.name, (), exc)
            fut.set_exception(err)
            fut.exception()  # retrieved: waiters re-raise it
            raise err from exc
        except BaseException:
            fut.cancel()  # cancelled while building: a waiter takes over
            raise
        finally:
            self._building.pop(slot, None)
        self._async[slot] = made
        fut.set_result(made)
        return made

    async def aclose(self) -> None:
        """Tear down the async resources of the running loop, then the sync ones."""
        loop = asyncio.get_running_loop()
        keep = []
        for owner, agen in self._ateardown:
            if owner is loop:
                await _finish_async(agen)
            else:
                keep.append((owner, agen))
        self._ateardown = keep
        self._async = {k: v for k, v in self._async.items() if k[0] != id(loop)}
        self.close()

    def close(self) -> None:
        """Tear down what can be torn down from here: sync resources, and async ones of loops
        that are idle (not running, not closed)."""
        for gen in reversed(self._teardown):
            try:
                next(gen)
            except StopIteration:
                pass
            except Exception:  # a failing teardown must not hide the others
                pass
        self._teardown.clear()
        self._sync.clear()
        for owner, agen in reversed(self._ateardown):
            if not owner.is_closed() and not owner.is_running():
                try:
                    owner.run_until_complete(_finish_async(agen))
                except Exception:
                    pass
        self._ateardown.clear()
        self._async.clear()


async def _finish_async(agen: Any) -> None:
    try:
        await agen.__anext__()
    except StopAsyncIteration:
        pass
    except Exception:
        pass


_MISSING = object()


def resolve_sync(
    names: tuple[str, ...], kwargs: dict[str, Any], resources: ResourceCache, is_async: bool
) -> None:
    """Swap the per-worker recipes among ``kwargs`` for the objects of this place (the sync
    ones; an async step resolves async ones itself, on its loop)."""
    for kw in names:
        ref = kwargs[kw]
        if isinstance(ref, ResourceRef) and not (ref.is_async and is_async):
            kwargs[kw] = resources.get(ref)


async def resolve_async(
    names: tuple[str, ...], kwargs: dict[str, Any], resources: ResourceCache
) -> None:
    """Swap every per-worker recipe among ``kwargs`` for the object of the running loop."""
    for kw in names:
        ref = kwargs[kw]
        if isinstance(ref, ResourceRef):
            kwargs[kw] = await resources.aget(ref)


#: The resources of this process when it is a worker.
WORKER_RESOURCES = ResourceCache()
