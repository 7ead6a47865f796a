"""The callables the cache puts in place of node functions, one kind per call style.

``wrap(fn, spec)`` returns a function that the engine calls exactly as it would call ``fn``
(keyword arguments named after the node's parameters), wherever the node runs: on the loop,
on an executor's thread, in a worker process. A sync node gets a sync wrapper, an async node
an ``async def``, a generator expander a generator function, an async expander an async
generator function.

One call, for a node whose behaviour is ``default``:

1. the cache key from the node's name, code version and its arguments' data versions (a
   value this run produced is versioned by identity, at no cost);
2. the index (memory): a key it does not know is a miss at once when the index is complete
   for the node (the driver's process), else the database is asked;
3. a hit: the bytes from memory, or one read (batched with other calls' reads on the reader
   thread when the caller is a coroutine; on its own thread when it is sync) -> the value;
4. a miss, or a hit whose result turns out broken (warned, forgotten): the node runs, its
   result is versioned, encoded on the spot (a snapshot) and queued for the writer.

Expanders record their items in parts as they are yielded and store them when the generator
is exhausted; a hit replays them without calling the generator. A node whose failures are
data (``on_error("deliver")`` or ``"skip"``) stores its failure like a result, and a hit
raises it again, so a resumed crawl does not fetch a missing page twice.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import hashlib
import itertools
import pickle
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping
from typing import Any

from asyncdag.caching import _formats
from asyncdag.caching._behavior import CachingBehavior
from asyncdag.caching._events import CachingEventType
from asyncdag.caching._fingerprint import (
    _FAST,
    UNHASHABLE,
    data_version,
    hash_value,
    literal,
    sequence_version,
    unique_version,
)
from asyncdag.caching._keys import key_prefix
from asyncdag.caching._runs import RunState, anonymous_warning, state_for, task_id
from asyncdag.caching._store import Fetched, Store
from asyncdag.caching._stores import FileResultStore, Prepared

__all__ = ["NodeSpec", "Role", "wrap"]

E = CachingEventType
#: Items per stored part of an expander's record (or fewer, past PART_BYTES).
PART_ITEMS = 1024
PART_BYTES = 256 * 1024
_ITEMS_MARK = "asyncdag-items"


class Role(enum.IntEnum):
    """How a dependency enters the key."""

    VALUE = 0  # its data version
    COLLECT = 1  # a Collect[...] list: the versions of its items, in order
    IGNORE = 2  # left out (an IGNORE node, a per-worker resource)
    DISABLE = 3  # a DISABLE node: the key cannot be known, nothing is stored
    STREAM = 4  # a streaming collect: the node always runs


class NodeSpec:
    """What a wrapper knows of its node; made at plan time, pickled with the wrapper."""

    __slots__ = (
        "_hash",
        "behavior",
        "cache_failures",
        "code",
        "deps",
        "fmt",
        "in_block",
        "name",
        "node_key",
        "prefix",
        "store",
        "streaming",
        "uid",
    )

    def __init__(
        self,
        *,
        name: str,
        code: str,
        behavior: CachingBehavior,
        deps: tuple[tuple[str, Role], ...],
        fmt: str,
        store: Store,
        uid: int,
        in_block: bool,
        cache_failures: bool,
    ) -> None:
        self.name = name
        self.code = code
        self.node_key = (name, code)
        self.prefix = key_prefix(name, code)
        self._hash = hashlib.blake2b(self.prefix.encode(), digest_size=16)
        self.behavior = behavior
        self.deps = tuple(sorted(deps))
        self.fmt = fmt
        self.store = store
        self.uid = uid
        self.in_block = in_block
        self.cache_failures = cache_failures
        self.streaming = any(role is Role.STREAM for _, role in deps)

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__ if name != "_hash"}

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)
        self._hash = hashlib.blake2b(self.prefix.encode(), digest_size=16)

    @property
    def lookup(self) -> bool:
        return self.behavior is CachingBehavior.DEFAULT

    def key(self, kwargs: Mapping[str, Any], state: RunState | None) -> str | None:
        """The cache key of this call, or ``None`` when it cannot be known."""
        if self.streaming:
            return None
        version = state.version_of if state is not None else data_version
        parts = [""]  # the prefix is in ``_hash`` already
        for name, role in self.deps:
            value = kwargs.get(name, _ABSENT)
            if value is _ABSENT:
                continue  # an optional input not given: the function's default
            if role is Role.VALUE:
                v = version(value)
            elif role is Role.COLLECT:
                v = sequence_version([version(x) for x in value])
            elif role is Role.IGNORE:
                continue
            else:
                return None
            if v[0] == "<":  # unhashable: a key that would hit wrongly, or never
                return None
            parts.append(name)
            parts.append(v)
        h = self._hash.copy()
        h.update("\0".join(parts).encode("utf-8", "surrogatepass"))
        return h.hexdigest()


_ABSENT = object()
_LITERAL_TAGS = frozenset("ifsbny")
_EXECUTE = CachingEventType.EXECUTE_NODE
_GET_RESULT = CachingEventType.GET_RESULT
_RAW_ITEMS = frozenset({int, str, float, bool, type(None), bytes})


def wrap(fn: Callable[..., Any], spec: NodeSpec, *, is_async: bool, is_expander: bool) -> Any:
    """The wrapper of ``fn`` for ``spec``, in ``fn``'s call style."""
    if is_expander:
        if is_async:

            @functools.wraps(fn)
            async def expand_async(**kwargs: Any) -> AsyncIterator[Any]:
                source: AsyncGenerator[Any, None] = _expand_async(spec, fn, kwargs)
                try:
                    async for item in source:
                        yield item
                finally:
                    await source.aclose()

            return expand_async

        @functools.wraps(fn)
        def expand_sync(**kwargs: Any) -> Iterator[Any]:
            yield from _expand_sync(spec, fn, kwargs)

        return expand_sync
    if spec.streaming:
        if is_async:

            @functools.wraps(fn)
            async def stream_async(**kwargs: Any) -> Any:
                return _after_stream(spec, await fn(**kwargs))

            return stream_async

        @functools.wraps(fn)
        def stream_sync(**kwargs: Any) -> Any:
            return _after_stream(spec, fn(**kwargs))

        return stream_sync
    if is_async:

        @functools.wraps(fn)
        async def call_async(**kwargs: Any) -> Any:
            return await _call_async(spec, fn, kwargs)

        return call_async

    @functools.wraps(fn)
    def call_sync(**kwargs: Any) -> Any:
        return _call_sync(spec, fn, kwargs)

    return call_sync


# -- one call ---------------------------------------------------------------------------


def _log(
    state: RunState | None,
    spec: NodeSpec,
    kind: CachingEventType,
    actor: str,
    msg: str | None = None,
    value: Any = None,
) -> None:
    if state is not None and state.log is not None:
        state.log.add(spec.name, task_id() if spec.in_block else None, actor, kind, msg, value)


def _warn(state: RunState | None, spec: NodeSpec, message: str) -> None:
    if state is not None:
        state.warn(spec.name, task_id() if spec.in_block else None, message)
    else:
        anonymous_warning(spec.name, message)


def _unusable(spec: NodeSpec, state: RunState | None) -> bool:
    store = spec.store
    if not store._opened:
        store.ensure_open()
    if store.disabled is None:
        return False
    if state is not None:
        state.warn(spec.name, None, f"cache miss, the cache cannot be used: {store.disabled}")
    return True


def _first_look(spec: NodeSpec, key: str) -> tuple[bool, str | None, Fetched | None]:
    """(must look further, version from the index, what memory has)."""
    store = spec.store
    version = store.index.get(key)
    if version is None:
        return (not store.trusts(spec.node_key)), None, None
    if version[0] in _LITERAL_TAGS:  # the version spells the value: nothing to read
        return True, version, Fetched(version, "literal")
    cached = store.values.get(version)
    if cached is not None:
        return True, version, Fetched(version, cached[0], cached[1])
    return True, version, None


def _decode(got: Fetched) -> Any:
    if got.fmt == "literal":
        return literal(got.version or "")[1]
    if got.fmt == "object":
        return got.data
    if got.fmt == "pickle":
        return pickle.loads(got.data)
    assert got.fmt is not None
    return _formats.get_format(got.fmt).decode(got.data)


class _Miss(Exception):
    pass


def _use(spec: NodeSpec, state: RunState | None, key: str, got: Fetched) -> Any:
    """The value of a hit; raises ``_Miss`` (after warning) when it cannot be used, and the
    stored failure of a node whose failures are data."""
    if got.version is None:
        raise _Miss
    if got.broken is not None:
        _warn(state, spec, f"cache miss, running the node again: {got.broken}")
        _log(state, spec, E.MISSING_RESULT, "result_store", got.broken, got.version)
        spec.store.forget(key, got.version, got.pack)
        raise _Miss
    try:
        value = _decode(got)
    except Exception as exc:
        message = f"stored result {got.version} cannot be read back ({exc!r})"
        _warn(state, spec, f"cache miss, running the node again: {message}")
        _log(state, spec, E.FAILED_RETRIEVAL, "result_store", message, got.version)
        spec.store.forget(key, got.version)
        raise _Miss from None
    _log(state, spec, E.GET_RESULT, "result_store", "hit", got.version)
    if got.version[0] == "!":
        error = _unpack_error(value)
        if error is None:
            spec.store.forget(key, got.version)
            raise _Miss
        raise error
    _remember(spec, state, value, got.version)
    return value


def _remember(spec: NodeSpec, state: RunState | None, value: Any, version: str) -> None:
    if state is None:
        return
    state.remember(value, version)
    if spec.in_block:
        state.item_version(spec.name, version, task_id())
    else:
        state.versions[spec.name] = version


def _prepare(spec: NodeSpec, state: RunState | None, version: str, value: Any) -> Prepared | None:
    """The result encoded for the store, or ``None`` (warned) when it cannot be stored."""
    try:
        return FileResultStore.prepare(version, value, spec.fmt)
    except _formats.FormatError as exc:
        _warn(state, spec, f"format {spec.fmt!r} cannot hold this result ({exc}); stored as pickle")
    except Exception as exc:
        _warn(
            state,
            spec,
            f"result of type {type(value).__qualname__} cannot be stored ({exc!r}); it is not"
            " cached",
        )
        _log(state, spec, E.FAILED_STORAGE, "result_store", repr(exc))
        return None
    try:
        return FileResultStore.prepare(version, value, "pickle")
    except Exception as exc:
        _warn(state, spec, f"result cannot be pickled ({exc!r}); it is not cached")
        return None


def _store(spec: NodeSpec, state: RunState | None, key: str, version: str, value: Any) -> bool:
    store = spec.store
    if version[0] in _LITERAL_TAGS and store.small_limit:  # the version is the value
        run_id = state.run_id if state is not None else None
        store.put_small(key, spec.name, spec.code, version, run_id, b"")
        if state is not None:
            state.wrote = True
        return True
    known = store.values.get(version)
    if known is not None and known[0] == "pickle" == spec.fmt:
        data = known[1]  # the same result is stored already: its bytes, not encoded again
        fmt = "pickle"
        prepared = None
    else:
        prepared = _prepare(spec, state, version, value)
        if prepared is None:
            return False
        version, fmt, data = prepared.data_version, prepared.format, prepared.data
    run_id = state.run_id if state is not None else None
    if fmt == "pickle" and len(data) <= store.small_limit:
        store.put_small(key, spec.name, spec.code, version, run_id, data)
    else:
        if prepared is None:
            prepared = FileResultStore.prepare(version, value, "pickle")
        store.put((key, spec.name, spec.code, version, run_id), prepared)
    if state is not None:
        state.wrote = True
        if state.debug:
            _log(state, spec, E.SET_RESULT, "result_store", None, version)
    return True


def _version_result(spec: NodeSpec, state: RunState | None, result: Any) -> str:
    version = data_version(result)
    if version.startswith(UNHASHABLE):
        _log(state, spec, E.UNHASHABLE_DATA_VERSION, "adapter", str(type(result)))
        version = unique_version()
    return version


_ERROR_MARK = "asyncdag-error"


def _failure_version(error: Exception) -> str:
    return "!" + hash_value(error)


def _pack_error(error: Exception) -> tuple[Any, ...]:
    """An exception as (mark, class, args, attributes): rebuilt without calling its
    ``__init__``, which for many exception classes does not take back its own ``args``."""
    state = {k: v for k, v in vars(error).items() if not k.startswith("__")}
    return (_ERROR_MARK, type(error), error.args, state)


def _unpack_error(packed: Any) -> Exception | None:
    if not (isinstance(packed, tuple) and len(packed) == 4 and packed[0] == _ERROR_MARK):
        return None
    _, cls, args, state = packed
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        return None
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


def _after_failure(
    spec: NodeSpec, state: RunState | None, key: str | None, error: Exception
) -> bool:
    """Store the failure of a node whose failures are data; whether a write was queued."""
    _log(state, spec, E.FAILED_EXECUTION, "adapter", repr(error))
    if key is None or not spec.cache_failures:
        return False
    version = _failure_version(error)
    if version.startswith(UNHASHABLE):
        return False
    try:
        prepared = FileResultStore.prepare(version, _pack_error(error), "pickle")
        if _unpack_error(pickle.loads(prepared.data)) is None:
            return False
    except Exception:  # attributes that cannot be pickled: the failure is not stored
        return False
    run_id = state.run_id if state is not None else None
    store = spec.store
    if len(prepared.data) <= store.small_limit:
        store.put_small(key, spec.name, spec.code, version, run_id, prepared.data)
    else:
        store.put((key, spec.name, spec.code, version, run_id), prepared)
    if state is not None:
        state.wrote = True
    return True


def _after_result(spec: NodeSpec, state: RunState | None, key: str | None, result: Any) -> bool:
    """Version, remember and store a computed result; whether a write was queued."""
    version = _version_result(spec, state, result)
    _log(state, spec, E.EXECUTE_NODE, "adapter")
    _remember(spec, state, result, version)
    if key is None:
        return False
    return _store(spec, state, key, version, result)


def _after_stream(spec: NodeSpec, result: Any) -> Any:
    state = state_for(spec.uid)
    _after_result(spec, state, None, result)
    return result


def _call_sync(spec: NodeSpec, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    state = state_for(spec.uid)
    if state is not None and state.detached:  # a worker process
        try:
            return _call_sync_inner(spec, fn, kwargs, state)
        finally:
            if state.log is not None and state.log.pending:
                _durable_sync(spec)  # the events reach the driver before the result
    return _call_sync_inner(spec, fn, kwargs, state)


def _call_sync_inner(
    spec: NodeSpec, fn: Callable[..., Any], kwargs: dict[str, Any], state: RunState | None
) -> Any:
    store = spec.store
    if _unusable(spec, state):
        return fn(**kwargs)
    key = spec.key(kwargs, state)
    if key is not None and spec.lookup:
        known = store.index.get(key)
        if known is not None and known[0] in _LITERAL_TAGS and state is not None:
            return _literal_hit(spec, state, known)
        further, version, got = _first_look(spec, key)
        if further:
            if got is None:
                got = spec.store.fetch([key], [version], [spec.node_key])[0]
            try:
                return _use(spec, state, key, got)
            except _Miss:
                pass
    try:
        result = fn(**kwargs)
    except Exception as exc:
        if _after_failure(spec, state, key, exc):
            _durable_sync(spec)
        raise
    if key is not None and state is not None and _store_literal(spec, state, key, result):
        if not store.authoritative or store.writer.full:
            _durable_sync(spec)
        return result
    if _after_result(spec, state, key, result):
        _durable_sync(spec)
    return result


async def _call_async(spec: NodeSpec, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    state = state_for(spec.uid)
    if state is not None and state.detached:  # a worker process
        try:
            return await _call_async_inner(spec, fn, kwargs, state)
        finally:
            if state.log is not None and state.log.pending:
                await _durable_async(spec)  # the events reach the driver before the result
    return await _call_async_inner(spec, fn, kwargs, state)


async def _call_async_inner(
    spec: NodeSpec, fn: Callable[..., Any], kwargs: dict[str, Any], state: RunState | None
) -> Any:
    store = spec.store
    if not store._opened:
        await store.acall(store.ensure_open)
    if store.disabled is not None:
        _unusable(spec, state)
        return await fn(**kwargs)
    key = spec.key(kwargs, state)
    if key is not None and spec.lookup:
        known = store.index.get(key)
        if known is not None and known[0] in _LITERAL_TAGS and state is not None:
            return _literal_hit(spec, state, known)
        further, version, got = _first_look(spec, key)
        if further:
            if got is None:
                got = (await store.afetch([key], [version], [spec.node_key]))[0]
            try:
                return _use(spec, state, key, got)
            except _Miss:
                pass
    try:
        result = await fn(**kwargs)
    except Exception as exc:
        if _after_failure(spec, state, key, exc):
            await _durable_async(spec)
        raise
    if key is not None and state is not None and _store_literal(spec, state, key, result):
        if not store.authoritative or store.writer.full:
            await _durable_async(spec)
        return result
    if _after_result(spec, state, key, result) and (not store.authoritative or store.writer.full):
        await _durable_async(spec)
    return result


def _relay(spec: NodeSpec, state: RunState | None) -> None:
    """In a worker process: send this run's new events toward the driver's ``dr.cache.logs``
    (through the cache database, with the next batch of writes)."""
    if state is not None and state.detached and state.log is not None:
        new = state.log.take_new()
        if new:
            spec.store.relay_events(state.run_id, new)


def _literal_hit(spec: NodeSpec, state: RunState, version: str) -> Any:
    """The common case of a hit, inline: a small primitive, read from its version."""
    task = task_id() if spec.in_block else None
    log = state.log
    if log is not None:
        log.add(spec.name, task, "result_store", _GET_RESULT, "hit", version)
    if spec.in_block:
        state.item_version(spec.name, version, task)
    else:
        state.versions[spec.name] = version
    return literal(version)[1]


def _store_literal(spec: NodeSpec, state: RunState, key: str, result: Any) -> bool:
    """The common case of a miss, inline: a small primitive, whose version is its value."""
    fast = _FAST.get(type(result))
    store = spec.store
    if fast is None or not store.small_limit:
        return False
    version = fast(result)
    if version[0] not in _LITERAL_TAGS:
        return False
    task = task_id() if spec.in_block else None
    log = state.log
    if log is not None:
        log.add(spec.name, task, "adapter", _EXECUTE)
    if spec.in_block:
        state.item_version(spec.name, version, task)
    else:
        state.versions[spec.name] = version
    store.put_small(key, spec.name, spec.code, version, state.run_id, b"")
    state.wrote = True
    return True


def _durable_sync(spec: NodeSpec) -> None:
    """Outside the driver's process nobody flushes at the end of the run: wait for the
    commit here, so that the next run sees this result wherever it looks."""
    store = spec.store
    _relay(spec, state_for(spec.uid))
    if not store.authoritative:
        store.writer.flush()
    elif store.writer.full:
        store.writer.wait_room()


async def _durable_async(spec: NodeSpec) -> None:
    store = spec.store
    _relay(spec, state_for(spec.uid))
    loop = _running_loop()
    if not store.authoritative:
        await store.writer.flushed(loop)
    elif store.writer.full:
        await store.writer.room(loop)


def _running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


# -- expanders --------------------------------------------------------------------------


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
            _warn(
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
        if self.state is not None:
            self.state.wrote = True
        _log(self.state, spec, E.EXECUTE_NODE, "adapter", f"{self.count} items")
        _log(self.state, spec, E.SET_RESULT, "result_store", None, self.record)
        return True


def _manifest(spec: NodeSpec, state: RunState | None, key: str, got: Fetched) -> list[str] | None:
    """The parts of a stored record, or ``None`` (a miss, warned when broken)."""
    try:
        value = _use(spec, state, key, got)
    except _Miss:
        return None
    if not (isinstance(value, tuple) and len(value) == 3 and value[0] == _ITEMS_MARK):
        _warn(state, spec, "cache miss: the stored items are not an item record")
        spec.store.forget(key, got.version)
        return None
    parts: list[str] = value[1]
    return parts


def _part_items(spec: NodeSpec, state: RunState | None, got: Fetched) -> list[Any] | None:
    if got.broken is not None or got.data is None:
        return None
    try:
        return [pickle.loads(x[0]) if type(x) is tuple else x for x in _decode(got)]
    except Exception:
        return None


def _expand_sync(spec: NodeSpec, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Iterator[Any]:
    """Runs where the engine iterates the expander (a generator's pump thread, a worker)."""
    state = state_for(spec.uid)
    store = spec.store
    key = None if _unusable(spec, state) else spec.key(kwargs, state)
    replayed = 0
    if key is not None and spec.lookup:
        further, version, got = _first_look(spec, key)
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
    _warn(
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
        for item in it:
            if type(item) in raw and not recorder.broken:  # the common case, inline
                recorder.count += 1
                buf = recorder.buf
                buf.append(item)
                if len(buf) >= PART_ITEMS:
                    recorder._flush_part()
            else:
                recorder.add(item)
            yield item
        if recorder.finish(key):
            _durable_sync(spec)
        elif key is None:
            _log(state, spec, E.EXECUTE_NODE, "adapter", f"{recorder.count} items")
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()


async def _expand_async(
    spec: NodeSpec, fn: Callable[..., Any], kwargs: dict[str, Any]
) -> AsyncGenerator[Any, None]:
    state = state_for(spec.uid)
    store = spec.store
    if not store._opened:
        await store.acall(store.ensure_open)
    key = None if _unusable(spec, state) else spec.key(kwargs, state)
    replayed = 0
    if key is not None and spec.lookup:
        further, version, got = _first_look(spec, key)
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
        await _durable_async(spec)
    elif key is None:
        _log(state, spec, E.EXECUTE_NODE, "adapter", f"{recorder.count} items")
