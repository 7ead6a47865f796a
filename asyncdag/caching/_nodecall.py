"""One call of a cached node: look its key up, use what is stored, or run it and store it.

For a node whose behaviour is ``default``:

1. the cache key from the node's name, code version and its arguments' data versions (a
   value this run produced is versioned by identity, at no cost);
2. the index (memory): a key it does not know is a miss at once when the index is complete
   for the node (the driver's process), else the database is asked;
3. a hit: a small primitive straight from its data version; else the bytes from memory, or
   one read (batched with other calls' reads on the reader thread when the caller is a
   coroutine; on its own thread when it is sync) -> the value;
4. a miss, or a hit whose result turns out broken (warned, forgotten): the node runs, its
   result is versioned, encoded on the spot (a snapshot) and queued for the writer.

A node whose failures are data (``on_error("deliver")`` or ``"skip"``) stores its failure
like a result, and a hit raises it again, so a resumed crawl does not fetch a missing page
twice. The helpers that expanders share are the public names here.
"""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import Callable
from typing import Any

from asyncdag._calls import current_run
from asyncdag.caching import _formats
from asyncdag.caching._events import CachingEventType, task_text
from asyncdag.caching._fingerprint import (
    _FAST,
    _LITERAL_INT,
    DECODE_LITERAL,
    UNHASHABLE,
    data_version,
    hash_value,
    literal,
    unique_version,
)
from asyncdag.caching._runs import RunState, anonymous_warning, call_index, state_for
from asyncdag.caching._spec import NodeSpec
from asyncdag.caching._store import Fetched
from asyncdag.caching._stores import FileResultStore, Prepared

__all__ = [
    "Miss",
    "after_stream",
    "call_async",
    "call_sync",
    "decode",
    "durable_async",
    "durable_sync",
    "first_look",
    "log_event",
    "unusable",
    "use",
    "warn",
]

E = CachingEventType
#: "the current call's item": the functions below ask ``call_index()`` for it (a wrapper's
#: call); the engine's ``Memo`` route passes the index instead
ASK: Any = object()
LITERAL_TAGS = frozenset("ifsbny")  # data versions that spell their value (see _fingerprint)
_EXECUTE = CachingEventType.EXECUTE_NODE
_GET_RESULT = CachingEventType.GET_RESULT


def log_event(
    state: RunState | None,
    spec: NodeSpec,
    kind: CachingEventType,
    actor: str,
    msg: str | None = None,
    value: Any = None,
    task: Any = ASK,
) -> None:
    if state is not None and state.log is not None:
        state.log.add(spec.name, _task(spec, task), actor, kind, msg, value)


def warn(state: RunState | None, spec: NodeSpec, message: str, task: Any = ASK) -> None:
    if state is not None:
        state.warn(spec.name, task_text(_task(spec, task)), message)
    else:
        anonymous_warning(spec.name, message)


def _task(spec: NodeSpec, task: Any) -> tuple[int, ...] | None:
    """The item a call serves: given by the engine (``Memo``), or asked of the current call."""
    if not spec.in_block:
        return None
    if task is ASK:
        return call_index()
    return task or None


def unusable(spec: NodeSpec, state: RunState | None) -> bool:
    store = spec.store
    if not store._opened:
        store.ensure_open()
    if store.disabled is None:
        return False
    if state is not None:
        state.warn(spec.name, None, f"cache miss, the cache cannot be used: {store.disabled}")
    return True


def first_look(spec: NodeSpec, key: str) -> tuple[bool, str | None, Fetched | None]:
    """(must look further, version from the index, what memory has)."""
    store = spec.store
    version = store.index.get(key)
    if version is None:
        return (not store.trusts(spec.node_key)), None, None
    if version[0] in LITERAL_TAGS:  # the version spells the value: nothing to read
        return True, version, Fetched(version, "literal")
    cached = store.values.get(version)
    if cached is not None:
        return True, version, Fetched(version, cached[0], cached[1])
    return True, version, None


def decode(got: Fetched) -> Any:
    if got.fmt == "literal":
        return literal(got.version or "")[1]
    if got.fmt == "object":
        return got.data
    if got.fmt == "pickle":
        return pickle.loads(got.data)
    assert got.fmt is not None
    return _formats.get_format(got.fmt).decode(got.data)


class Miss(Exception):
    pass


def use(spec: NodeSpec, state: RunState | None, key: str, got: Fetched, task: Any = ASK) -> Any:
    """The value of a hit; raises ``Miss`` (after warning) when it cannot be used, and the
    stored failure of a node whose failures are data."""
    if got.version is None:
        raise Miss
    if got.broken is not None:
        warn(state, spec, f"cache miss, running the node again: {got.broken}", task)
        log_event(state, spec, E.MISSING_RESULT, "result_store", got.broken, got.version, task)
        spec.store.forget(key, got.version, got.pack)
        raise Miss
    try:
        value = decode(got)
    except Exception as exc:
        message = f"stored result {got.version} cannot be read back ({exc!r})"
        warn(state, spec, f"cache miss, running the node again: {message}", task)
        log_event(state, spec, E.FAILED_RETRIEVAL, "result_store", message, got.version, task)
        spec.store.forget(key, got.version)
        raise Miss from None
    log_event(state, spec, E.GET_RESULT, "result_store", "hit", got.version, task)
    if got.version[0] == "!":
        error = _unpack_error(value)
        if error is None:
            spec.store.forget(key, got.version)
            raise Miss
        try:
            raise error
        finally:
            del error  # this frame is in its traceback: no reference cycle through it
    _remember(spec, state, value, got.version, key, task)
    return value


def _remember(
    spec: NodeSpec,
    state: RunState | None,
    value: Any,
    version: str,
    key: str | None,
    task: Any = ASK,
) -> None:
    if state is None:
        return
    state.remember(value, version)
    if spec.in_block:
        state.item_version(spec.name, version, _task(spec, task), key)
    else:
        state.node_version(spec.name, version, key)


def _prepare(
    spec: NodeSpec, state: RunState | None, version: str, value: Any, task: Any
) -> Prepared | None:
    """The result encoded for the store, or ``None`` (warned) when it cannot be stored."""
    try:
        return FileResultStore.prepare(version, value, spec.fmt)
    except _formats.FormatError as exc:
        message = f"format {spec.fmt!r} cannot hold this result ({exc}); stored as pickle"
        warn(state, spec, message, task)
    except Exception as exc:
        warn(
            state,
            spec,
            f"result of type {type(value).__qualname__} cannot be stored ({exc!r}); it is not"
            " cached",
            task,
        )
        log_event(state, spec, E.FAILED_STORAGE, "result_store", repr(exc), None, task)
        return None
    try:
        return FileResultStore.prepare(version, value, "pickle")
    except Exception as exc:
        warn(state, spec, f"result cannot be pickled ({exc!r}); it is not cached", task)
        return None


def _store(
    spec: NodeSpec, state: RunState | None, key: str, version: str, value: Any, task: Any
) -> bool:
    store = spec.store
    if version[0] in LITERAL_TAGS and store.small_limit:  # the version is the value
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
        prepared = _prepare(spec, state, version, value, task)
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
            log_event(state, spec, E.SET_RESULT, "result_store", None, version, task)
    return True


def _version_result(spec: NodeSpec, state: RunState | None, result: Any, task: Any) -> str:
    version = data_version(result)
    if version.startswith(UNHASHABLE):
        kind = E.UNHASHABLE_DATA_VERSION
        log_event(state, spec, kind, "adapter", str(type(result)), None, task)
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
    spec: NodeSpec, state: RunState | None, key: str | None, error: Exception, task: Any = ASK
) -> bool:
    """Store the failure of a node whose failures are data; whether a write was queued."""
    log_event(state, spec, E.FAILED_EXECUTION, "adapter", repr(error), None, task)
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


def _after_result(
    spec: NodeSpec, state: RunState | None, key: str | None, result: Any, task: Any = ASK
) -> bool:
    """Version, remember and store a computed result; whether a write was queued."""
    if task is ASK:
        task = _task(spec, task)
    version = _version_result(spec, state, result, task)
    log_event(state, spec, E.EXECUTE_NODE, "adapter", None, None, task)
    _remember(spec, state, result, version, key, task)
    if key is None:
        return False
    return _store(spec, state, key, version, result, task)


def after_stream(spec: NodeSpec, result: Any) -> Any:
    state = state_for(spec.uid)
    _after_result(spec, state, None, result)
    return result


def _state_of(spec: NodeSpec) -> RunState | None:
    """The state of the run calling ``spec``'s node: the driver's, or a worker process's
    copy of it, or none outside a cached run."""
    run = current_run()
    state = spec.runs.get(run.run_id) if run is not None else None
    return state if state is not None else state_for(spec.uid)


def _quick_hit(spec: NodeSpec, state: RunState, known: Any, key: str, task: Any = ASK) -> Any:
    """A hit answered without reading the store (the version spells the value, or the value
    is in memory), else ``_NO_HIT``."""
    if known[0] in LITERAL_TAGS:
        return _literal_hit(spec, state, known, key, task)
    return _memory_hit(spec, state, known, key, task)


def call_sync(spec: NodeSpec, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    state = _state_of(spec)
    task = call_index() if spec.in_block else None
    try:
        store = spec.store
        if (not store._opened or store.disabled is not None) and unusable(spec, state):
            return fn(**kwargs)
        key = spec.key(kwargs, state)
        if key is not None and spec.lookup:
            known = store.index.get(key)
            if known is not None and state is not None:
                value = _quick_hit(spec, state, known, key, task)
                if value is not _NO_HIT:
                    return value
            if known is not None or not store.trusts(spec.node_key):
                further, version, got = first_look(spec, key)
                if further:
                    if got is None:
                        got = store.fetch([key], [version], [spec.node_key])[0]
                    try:
                        return use(spec, state, key, got, task)
                    except Miss:
                        pass
        try:
            result = fn(**kwargs)
        except Exception as exc:
            if _after_failure(spec, state, key, exc, task):
                durable_sync(spec)
            raise
        if key is not None and state is not None and _store_literal(spec, state, key, result, task):
            if not store.authoritative or store.writer.full:
                durable_sync(spec)
            return result
        if _after_result(spec, state, key, result, task):
            durable_sync(spec)
        return result
    finally:
        if state is not None and state.detached and state.log is not None and state.log.pending:
            durable_sync(spec)  # a worker process: the events reach the driver before the result


async def call_async(spec: NodeSpec, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    # The same steps as ``call_sync``; reads that are not in memory go to the reader thread.
    state = _state_of(spec)
    task = call_index() if spec.in_block else None
    try:
        store = spec.store
        if not store._opened:
            await store.acall(store.ensure_open)
        if store.disabled is not None:
            unusable(spec, state)
            return await fn(**kwargs)
        key = spec.key(kwargs, state)
        if key is not None and spec.lookup:
            known = store.index.get(key)
            if known is not None and state is not None:
                value = _quick_hit(spec, state, known, key, task)
                if value is not _NO_HIT:
                    return value
            if known is not None or not store.trusts(spec.node_key):
                further, version, got = first_look(spec, key)
                if further:
                    if got is None:
                        got = (await store.afetch([key], [version], [spec.node_key]))[0]
                    try:
                        return use(spec, state, key, got, task)
                    except Miss:
                        pass
        try:
            result = await fn(**kwargs)
        except Exception as exc:
            if _after_failure(spec, state, key, exc, task):
                await durable_async(spec)
            raise
        if key is not None and state is not None and _store_literal(spec, state, key, result, task):
            if not store.authoritative or store.writer.full:
                await durable_async(spec)
            return result
        if _after_result(spec, state, key, result, task) and (
            not store.authoritative or store.writer.full
        ):
            await durable_async(spec)
        return result
    finally:
        if state is not None and state.detached and state.log is not None and state.log.pending:
            await durable_async(spec)  # a worker process: the events reach the driver first


def _relay(spec: NodeSpec, state: RunState | None) -> None:
    """In a worker process: send this run's new events toward the driver's ``dr.cache.logs``
    (through the cache database, with the next batch of writes)."""
    if state is not None and state.detached and state.log is not None:
        new = state.log.take_new()
        if new:
            spec.store.relay_events(state.run_id, new)


def _literal_hit(spec: NodeSpec, state: RunState, version: str, key: str, task: Any) -> Any:
    """The common case of a hit, inline: a small primitive, read from its version."""
    task = _task(spec, task)
    log = state.log
    if log is not None:
        log.add(spec.name, task, "result_store", _GET_RESULT, "hit", version)
    if spec.in_block:
        state.item_version(spec.name, version, task, key)
    else:
        state.node_version(spec.name, version, key)
    return DECODE_LITERAL[version[0]](version[1:])


_NO_HIT = object()


def _memory_hit(spec: NodeSpec, state: RunState, version: str, key: str, task: Any) -> Any:
    """The other common case of a hit, inline: a pickled result in memory (``_NO_HIT``
    when it is not there, is a stored failure or does not unpickle: ``use`` sees to those)."""
    cached = spec.store.values.get(version)
    if cached is None or cached[0] != "pickle" or version[0] == "!":
        return _NO_HIT
    try:
        value = pickle.loads(cached[1])
    except Exception:
        return _NO_HIT
    task = _task(spec, task)
    log = state.log
    if log is not None:
        log.add(spec.name, task, "result_store", _GET_RESULT, "hit", version)
    state.remember(value, version)
    if spec.in_block:
        state.item_version(spec.name, version, task, key)
    else:
        state.node_version(spec.name, version, key)
    return value


def _store_literal(spec: NodeSpec, state: RunState, key: str, result: Any, task: Any) -> bool:
    """The common case of a miss, inline: a small primitive, whose version is its value."""
    store = spec.store
    if not store.small_limit:
        return False
    if type(result) is int and -_LITERAL_INT < result < _LITERAL_INT:
        version = f"i{result}"  # _int_version, for the commonest result
    else:
        fast = _FAST.get(type(result))
        if fast is None:
            return False
        version = fast(result)
        if version[0] not in LITERAL_TAGS:
            return False
    name, log = spec.name, state.log
    if spec.in_block:
        task = call_index() if task is ASK else (task or None)
        if log is not None:
            log.add(name, task, "adapter", _EXECUTE)
        state.item_version(name, version, task, key)
    else:
        if log is not None:
            log.add(name, None, "adapter", _EXECUTE)
        state.node_version(name, version, key)
    store.put_small(key, name, spec.code, version, state.run_id, b"")
    state.wrote = True
    return True


def durable_sync(spec: NodeSpec) -> None:
    """Outside the driver's process nobody flushes at the end of the run: wait for the
    commit here, so that the next run sees this result wherever it looks."""
    store = spec.store
    _relay(spec, state_for(spec.uid))
    if not store.authoritative:
        store.writer.flush()
    elif store.writer.full:
        store.writer.wait_room()


async def durable_async(spec: NodeSpec) -> None:
    store = spec.store
    _relay(spec, state_for(spec.uid))
    loop = _running_loop()
    if not store.authoritative:
        await store.writer.flushed(loop)
    elif store.writer.full:
        await store.writer.room(loop)


def _running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()
