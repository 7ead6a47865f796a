"""The cache on the engine's own route (``asyncdag._memo``): a node's memo, and its items'.

:class:`StepMemo` answers for one cached node wherever the engine calls it on the loop or on
a run's thread: a hit found in memory, or a miss whose node then runs and is stored. The
cache's wrapper does everything else (``SLOW``).

:class:`ItemMemo` answers for the items of one expansion whose block is that node alone,
reading only its item (the engine's lone route). A miss or a hit of a small primitive is
all an item's call does there, so what the cache must record of it (the run's event, the
item's data version and key, the write) is kept in three flat lists and recorded for many
items at once, in C loops, at the end of the loop's turn (``loop.call_soon``), before any
other kind of call of the node is recorded, and when the run ends (``close``, which the
engine calls however the run ended). The item's index entry is made at once, so a later
item with the same key hits.

Who owns what: an :class:`ItemMemo` belongs to one expansion of one run, and runs only on
that run's loop: its lists are never touched from another thread. What is pending when the
process dies is lost like a write still lingering in the writer: those items run again
next time, never a wrong hit.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from asyncdag._calls import RunInfo
from asyncdag._memo import MISS, SLOW
from asyncdag.caching._fingerprint import _FAST, _LITERAL_INT, DECODE_LITERAL
from asyncdag.caching._nodecall import (
    _EXECUTE,
    _GET_RESULT,
    _NO_HIT,
    LITERAL_TAGS,
    E,
    _after_result,
    _quick_hit,
    _store_literal,
    durable_async,
    durable_sync,
    log_event,
)
from asyncdag.caching._runs import RunState
from asyncdag.caching._spec import NodeSpec

__all__ = ["ItemMemo", "StepMemo", "store_ready"]

_NOTHING: dict[str, str] = {}
_UNSET: Any = object()


def store_ready(spec: NodeSpec) -> bool:
    """Whether ``spec``'s results may be recorded in batches: its store is open, this
    process's index is authoritative, small results go to packs, failures are not data."""
    store = spec.store
    return (
        store._opened
        and store.disabled is None
        and store.authoritative
        and bool(store.small_limit)
        and not spec.cache_failures
    )


class StepMemo:
    """The cache of one node on the engine's own route (:class:`asyncdag._memo.Memo`).

    It answers the two common cases where the engine calls the node, without the wrapper:
    a hit found in memory (a small primitive spelled by its version, or a pickle the process
    holds; also for a node whose failures are data, unless the hit is a stored failure) and
    a miss whose node then runs and is stored. Anything else (a read from the database, a
    miss or a stored failure of a node whose failures are data, a worker process's run, a
    disabled store) is ``SLOW``: the engine calls the wrapper, which does all of it. Both
    routes record the same events and versions, and store the same entries.
    """

    __slots__ = ("fn", "spec", "wrapper")

    def __init__(self, spec: NodeSpec, fn: Callable[..., Any], wrapper: Callable[..., Any]):
        self.spec = spec
        self.fn = fn
        self.wrapper = wrapper

    def look(self, run: RunInfo, index: tuple[int, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
        spec = self.spec
        state = spec.runs.get(run.run_id)
        batch = self._batch(state, index)
        if batch is not None and batch.keyword in kwargs:  # its one argument: the batch's
            return batch.look(index, kwargs[batch.keyword])
        store = spec.store
        if state is None or not store._opened or store.disabled is not None or state.detached:
            return None, SLOW
        key = spec.key(kwargs, state)
        if key is None:
            return None, SLOW
        if not spec.lookup:  # recompute: run it, store it
            return (None, SLOW) if spec.cache_failures else (key, MISS)
        known = store.index.get(key)
        if known is None:
            if spec.cache_failures:  # a failure must be stored: the wrapper's route does it
                return None, SLOW
            return (key, MISS) if store.trusts(spec.node_key) else (None, SLOW)
        # (a stored failure is no quick hit: the wrapper raises it again)
        value = _quick_hit(spec, state, known, key, index)
        return (None, SLOW) if value is _NO_HIT else (key, value)

    def keep(self, run: RunInfo, index: tuple[int, ...], key: Any, value: Any) -> bool:
        spec = self.spec
        state = spec.runs.get(run.run_id)
        if state is None:
            return False
        batch = self._batch(state, index)
        if batch is not None:  # an item, on the run's loop: recorded with the others
            return batch.keep(index, key, value)
        if not _store_literal(spec, state, key, value, index) and not _after_result(
            spec, state, key, value, index
        ):
            return False
        store = spec.store
        return not store.authoritative or store.writer.full

    def _batch(self, state: RunState | None, index: tuple[int, ...]) -> _Batched | None:
        """The batch of this node's items in ``state``'s run, for a call of an item on the
        run's loop (see :func:`batch_of`); ``None`` for any other call."""
        spec = self.spec
        if state is None or not index or not spec.in_block:
            return None
        batch: _Batched | None = state.batches.get(spec.name, _UNSET)
        if batch is _UNSET:
            batch = batch_of(spec, state)
        if batch is None or threading.get_ident() != state.thread:
            return None
        return batch

    def failed(self, run: RunInfo, index: tuple[int, ...], key: Any, error: Exception) -> None:
        spec = self.spec
        log_event(
            spec.runs.get(run.run_id), spec, E.FAILED_EXECUTION, "adapter", repr(error), None, index
        )

    async def settle(self) -> None:
        await durable_async(self.spec)

    def settle_sync(self) -> None:
        durable_sync(self.spec)

    def items(self, run: RunInfo, parent: tuple[int, ...], keyword: str) -> ItemMemo | None:
        """The memo of this node's items in one expansion of ``run`` (see :class:`ItemMemo`),
        or ``None`` where only :meth:`look` and :meth:`keep` may answer: a run this process
        does not own, a store that is not open, a node whose failures are data."""
        spec = self.spec
        state = spec.runs.get(run.run_id)
        if state is None or state.detached or spec._keyless or not store_ready(spec):
            return None
        return ItemMemo(spec, state, parent, keyword, asyncio.get_running_loop())


class _Batched:
    """What the cache records of one node's items (a run's event, the item's data version
    and key, the write), kept for many items and recorded at once (see the module's
    docstring). Runs on one thread only: the loop's that made it.

    ``parent``: the items' index paths are ``parent + (i,)`` for the ``i`` kept; ``None``:
    what is kept is the whole index path."""

    __slots__ = (
        "_get",
        "_hits",
        "_int_prefix",
        "_loop",
        "_misses",
        "_scheduled",
        "_unknown",
        "full",
        "keyword",
        "parent",
        "spec",
        "state",
    )

    def __init__(
        self,
        spec: NodeSpec,
        state: RunState,
        parent: tuple[int, ...] | None,
        loop: asyncio.AbstractEventLoop,
        keyword: str,
    ) -> None:
        self.spec = spec
        self.state = state
        self.parent = parent
        self._loop = loop
        #: the argument that is the node's only dependency ("": it has none, or several)
        self.keyword = keyword
        single = spec._single
        #: the key of a call whose only argument is a small int, less its digits
        #: (``NodeSpec.key``'s commonest case)
        self._int_prefix = (
            f"{spec._short}{keyword}=i"
            if single is not None and keyword and single[0] == keyword
            else None
        )
        store = spec.store
        #: the index's answer for a key (nothing, for a node marked ``recompute``)
        self._get = store.index.get if spec.lookup else _NOTHING.get
        #: what a key missing from the index means: a miss when the node's index is complete
        #: (or the node always runs), else a question only the wrapper can ask (the database)
        self._unknown = MISS if not spec.lookup or store.trusts(spec.node_key) else SLOW
        # flat lists, three fields an item: its index, its key, its data version
        self._misses: list[Any] = []
        self._hits: list[Any] = []
        self._scheduled = False
        #: whether the writer holds past its bound (as of the last record): ``keep``'s answer
        self.full = False

    def look(self, i: Any, item: Any) -> tuple[Any, Any]:
        """``StepMemo.look`` for the item ``i`` (see ``parent``), whose one argument is ``item``."""
        key: str | None
        prefix = self._int_prefix
        if prefix is not None and type(item) is int and -_LITERAL_INT < item < _LITERAL_INT:
            key = f"{prefix}{item}"
        else:
            key = self.spec.key({self.keyword: item}, self.state)
            if key is None:
                return None, SLOW
        known = self._get(key)
        if known is None:
            return key, self._unknown
        tag = known[0]
        if tag in LITERAL_TAGS:  # a hit spelled by its version: recorded with the others
            self._hits += (i, key, known)
            if not self._scheduled:
                self._schedule()
            return key, DECODE_LITERAL[tag](known[1:])
        self.record()  # (the events of this node's items stay in order)
        value = _quick_hit(self.spec, self.state, known, key, self._task(i))
        return (None, SLOW) if value is _NO_HIT else (key, value)

    def keep(self, i: Any, key: Any, value: Any) -> bool:
        """``StepMemo.keep`` for the item ``i`` (see ``parent``)."""
        version: str | None
        if type(value) is int and -_LITERAL_INT < value < _LITERAL_INT:
            version = f"i{value}"  # _int_version, for the commonest result
        else:
            version = _literal_version(value)
            if version is None:
                self.record()
                spec = self.spec
                if not _after_result(spec, self.state, key, value, self._task(i)):
                    return False
                return spec.store.writer.full
        # (its index entry too is made when the item is recorded: until then, an item of
        # the same key misses as well)
        self._misses += (i, key, version)
        if not self._scheduled:
            self._schedule()
        return self.full

    def _task(self, i: Any) -> tuple[int, ...]:
        parent = self.parent
        return i if parent is None else (*parent, i)

    def _schedule(self) -> None:
        self._scheduled = True
        self._loop.call_soon(self.record)
        log = self.state.log
        if log is not None:  # (and before the run's next event of another kind)
            log.waiting.append(self.record)

    def record(self) -> None:
        """Record the items kept and hit since the last time, many at once."""
        self._scheduled = False
        misses, hits = self._misses, self._hits
        if misses:
            self._misses = []
        if hits:
            self._hits = []
        # (both taken first: recording adds events, and adding an event records what waits)
        if misses:
            keys, versions = misses[1::3], misses[2::3]
            self._record(misses[0::3], keys, versions, "adapter", _EXECUTE, None, None)
            self._write(keys, versions)
        if hits:
            versions = hits[2::3]
            actor, kind = "result_store", _GET_RESULT
            self._record(hits[0::3], hits[1::3], versions, actor, kind, "hit", versions)

    def _record(
        self,
        indices: list[Any],
        keys: list[str],
        versions: list[str],
        actor: str,
        kind: E,
        msg: str | None,
        values: list[str] | None,
    ) -> None:
        spec, state, parent = self.spec, self.state, self.parent
        log = state.log
        if log is not None:
            log.add_many(spec.name, parent, indices, actor, kind, msg, values)
        state.item_versions_of(spec.name, parent, indices, versions, keys)

    def _write(self, keys: list[str], versions: list[str]) -> None:
        spec, state = self.spec, self.state
        store = spec.store
        if store.disabled is not None:
            return
        store.put_pack(keys, spec.name, spec.code, versions, state.run_id)
        state.wrote = True
        self.full = store.writer.full


class ItemMemo(_Batched):
    """The cache of one node for the items of one expansion (see the module's docstring).

    ``look(i, item)`` and ``keep(i, key, value)`` answer as :class:`StepMemo`'s do for item
    ``i`` (index path ``parent + (i,)``), the item being the call's only argument.

    Example (what the engine does for item ``i``)::

        key, found = items.look(i, item)
        if found is MISS:
            value = await fn(item)
            if items.keep(i, key, value):
                await memo.settle()
    """

    __slots__ = ()

    parent: tuple[int, ...]
    keyword: str

    def __init__(
        self,
        spec: NodeSpec,
        state: RunState,
        parent: tuple[int, ...],
        keyword: str,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__(spec, state, parent, loop, keyword)

    def failed(self, i: int, key: Any, error: Exception) -> None:
        self.record()
        error_text = repr(error)
        log_event(
            self.state, self.spec, E.FAILED_EXECUTION, "adapter", error_text, None, self._task(i)
        )

    def close(self) -> None:
        """Record what is pending (the engine calls it once the expansion's items are done,
        and when the run ends)."""
        self.record()


def _literal_version(value: Any) -> str | None:
    """The data version of a small primitive, which spells it; ``None`` for other values."""
    fast = _FAST.get(type(value))
    if fast is None:
        return None
    version: str = fast(value)
    return version if version[0] in LITERAL_TAGS else None


def batch_of(spec: NodeSpec, state: RunState) -> _Batched | None:
    """The batch that records ``spec``'s items of ``state``'s run kept on the run's loop, or
    ``None`` when its results cannot be recorded so (see :func:`store_ready`); made on the
    first call, on the run's loop."""
    loop = asyncio._get_running_loop()
    if loop is None or threading.get_ident() != state.thread:
        return None  # (asked again next time: the loop's own call makes it)
    single = spec._single
    keyword = single[0] if single is not None else ""
    ready = store_ready(spec) and not state.detached
    made = _Batched(spec, state, None, loop, keyword) if ready else None
    state.batches[spec.name] = made
    return made
