"""Cached expanders: items recorded as they are yielded, replayed without the generator.

A miss runs the expander and keeps its items in parts of up to ``PART_ITEMS`` (primitive
items as they are, others pickled the moment they are yielded: a snapshot taken before
anything downstream can change them), queued for the writer as they fill; once the generator
is exhausted a manifest of the parts is stored under the key. A hit reads the manifest, then
the parts one by one, and yields their items. A part found broken half-way through a replay
is warned about, and the expander runs again, its first items (already yielded) skipped.
"""

from __future__ import annotations

import itertools
import pickle
import uuid
from collections.abc import AsyncGenerator, Callable, Iterator
from typing import Any

from asyncdag.caching import _formats
from asyncdag.caching._events import CachingEventType
from asyncdag.caching._nodecall import (
    Miss,
    decode,
    durable_async,
    durable_sync,
    first_look,
    log_event,
    unusable,
    use,
    warn,
)
from asyncdag.caching._runs import RunState, call_index, state_for
from asyncdag.caching._spec import NodeSpec
from asyncdag.caching._store import Fetched
from asyncdag.caching._stores import FileResultStore

__all__ = ["PART_BYTES", "PART_ITEMS", "expand_async", "expand_sync"]

E = CachingEventType
#: Items per stored part of an expander's record (or fewer, past PART_BYTES).
PART_ITEMS = 1024
PART_BYTES = 256 * 1024
_ITEMS_MARK = "asyncdag-items"
_RAW_ITEMS = frozenset({int, str, float, bool, type(None), bytes})


class _Recorder:
    """Keeps an expander's items as they are yielded: each item pickled at once (a snapshot
    taken before anyone downstream can change it), parts of items queued for the writer."""

    def __init__(self, spec: NodeSpec, state: RunState | None) -> None:
        self.spec = spec
        self.state = state
        self.record = "x" + uuid.uuid4().hex
        self.parts: list[str] = []
        self.buf: list[Any] = []  # items as they are (primitives) or as 1-tuples of a pickle
        self.buf_bytes = 0
        self.count = 0
        self.broken = False

    def add(self, item: Any) -> None:
        self.count += 1
        if self.broken:
            return
        if type(item) in _RAW_ITEMS:  # immutable: kept as it is, pickled with its part
            self.buf.append(item)
            self.buf_bytes += 8
            if len(self.buf) >= PART_ITEMS:
                self._flush_part()
            return
        try:
            data = (_formats.encode("pickle", item)[1],)  # a 1-tuple marks a pickled item
        except Exception as exc:
            self.broken = True
            self.buf = []
            warn(
                self.state,
                self.spec,
                f"item {self.count - 1} of type {type(item).__qualname__} cannot be pickled"
                f" ({exc!r}); the items of this expansion are not cached",
            )
            return
        self.buf.append(data)
        self.buf_bytes += len(data[0])
        if len(self.buf) >= PART_ITEMS or self.buf_bytes >= PART_BYTES:
            self._flush_part()

    def _flush_part(self) -> None:
        if not self.buf:
            return
        version = f"{self.record}.{len(self.parts)}"
        self.spec.store.put_result(FileResultStore.prepare(version, self.buf))
        self.parts.append(version)
        self.buf = []
        self.buf_bytes = 0

    def finish(self, key: str | None) -> bool:
        """Store the record under ``key`` once the generator is exhausted."""
        if key is None or self.broken:
            return False
        self._flush_part()
        manifest = FileResultStore.prepare(self.record, (_ITEMS_MARK, self.parts, self.count))
        run_id = self.state.run_id if self.state is not None else None
        spec = self.spec
        spec.store.put((key, spec.name, spec.code, self.record, run_id), manifest)
        state = self.state
        if state is not None:
            state.wrote = True
            if spec.in_block:
                state.item_version(spec.name, self.record, call_index(), key)
            else:
                state.node_version(spec.name, self.record, key)
        log_event(state, spec, E.EXECUTE_NODE, "adapter", f"{self.count} items")
        log_event(self.state, spec, E.SET_RESULT, "result_store", None, self.record)
        return True


def _manifest(spec: NodeSpec, state: RunState | None, key: str, got: Fetched) -> list[str] | None:
    """The parts of a stored record, or ``None`` (a miss, warned when broken)."""
    try:
        value = use(spec, state, key, got)
    except Miss:
        return None
    if not (isinstance(value, tuple) and len(value) == 3 and value[0] == _ITEMS_MARK):
        warn(state, spec, "cache miss: the stored items are not an item record")
        spec.store.forget(key, got.version)
        return None
    parts: list[str] = value[1]
    return parts


def _part_items(spec: NodeSpec, state: RunState | None, got: Fetched) -> list[Any] | None:
    if got.broken is not None or got.data is None:
        return None
    try:
        return [pickle.loads(x[0]) if type(x) is tuple else x for x in decode(got)]
    except Exception:
        return None


def expand_sync(spec: NodeSpec, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Iterator[Any]:
    """Runs where the engine iterates the expander (a generator's pump thread, a worker)."""
    state = state_for(spec.uid)
    store = spec.store
    key = None if unusable(spec, state) else spec.key(kwargs, state)
    replayed = 0
    if key is not None and spec.lookup:
        further, version, got = first_look(spec, key)
        if further:
            if got is None:
                got = store.fetch([key], [version], [spec.node_key])[0]
            parts = _manifest(spec, state, key, got)
            if parts is not None:
                for part in parts:
                    items = _part_items(spec, state, store.fetch([part], [part])[0])
                    if items is None:
                        _broken_record(spec, state, key, got.version, replayed)
                        break
                    replayed += len(items)
                    yield from items
                else:
                    return
    yield from _record_sync(spec, state, key, fn, kwargs, replayed)


def _broken_record(
    spec: NodeSpec, state: RunState | None, key: str, version: str | None, replayed: int
) -> None:
    warn(
        state,
        spec,
        f"a part of the stored items is missing or broken after {replayed} items; running the"
        f" expander again and skipping the {replayed} items already yielded (this assumes it"
        " yields the same items in the same order, as a cached expander must)",
    )
    spec.store.forget(key, version)


def _record_sync(
    spec: NodeSpec,
    state: RunState | None,
    key: str | None,
    fn: Callable[..., Any],
    kwargs: dict[str, Any],
    skip: int,
) -> Iterator[Any]:
    recorder = _Recorder(spec, state)
    source = fn(**kwargs)
    it = iter(source)
    try:
        for item in itertools.islice(it, skip):
            recorder.add(item)
        raw = _RAW_ITEMS
        buf, keep, n = recorder.buf, not recorder.broken, recorder.count
        start = n + 1
        for n, item in enumerate(it, start):  # (n: the items so far, this one's included)
            if keep and type(item) in raw:  # the common case, inline
                buf.append(item)
                if len(buf) >= PART_ITEMS:
                    recorder._flush_part()
                    buf = recorder.buf
            else:
                recorder.count = n - 1
                recorder.add(item)
                buf, keep = recorder.buf, not recorder.broken
            yield item
        recorder.count = n
        if recorder.finish(key):
            durable_sync(spec)
        elif key is None:
            log_event(state, spec, E.EXECUTE_NODE, "adapter", f"{recorder.count} items")
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()


async def expand_async(
    spec: NodeSpec, fn: Callable[..., Any], kwargs: dict[str, Any]
) -> AsyncGenerator[Any, None]:
    state = state_for(spec.uid)
    store = spec.store
    if not store._opened:
        await store.acall(store.ensure_open)
    key = None if unusable(spec, state) else spec.key(kwargs, state)
    replayed = 0
    if key is not None and spec.lookup:
        further, version, got = first_look(spec, key)
        if further:
            if got is None:
                got = (await store.afetch([key], [version], [spec.node_key]))[0]
            parts = _manifest(spec, state, key, got)
            if parts is not None:
                complete = True
                for part in parts:
                    cached = store.values.get(part)
                    fetched = (
                        Fetched(part, cached[0], cached[1])
                        if cached is not None
                        else (await store.afetch([part], [part]))[0]
                    )
                    items = _part_items(spec, state, fetched)
                    if items is None:
                        _broken_record(spec, state, key, got.version, replayed)
                        complete = False
                        break
                    replayed += len(items)
                    for item in items:
                        yield item
                if complete:
                    return
    recorder = _Recorder(spec, state)
    source = fn(**kwargs)
    if hasattr(source, "__await__"):
        source = await source
    if hasattr(source, "__aiter__"):
        it = source.__aiter__()
        try:
            async for item in it:
                recorder.add(item)
                if recorder.count > replayed:
                    yield item
        finally:
            aclose = getattr(it, "aclose", None)
            if aclose is not None:
                await aclose()
    else:
        for item in source:
            recorder.add(item)
            if recorder.count > replayed:
                yield item
    if recorder.finish(key):
        await durable_async(spec)
    elif key is None:
        log_event(state, spec, E.EXECUTE_NODE, "adapter", f"{recorder.count} items")
