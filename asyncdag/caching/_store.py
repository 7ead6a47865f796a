"""One cache location as a process sees it: an index in memory, recent results, two threads.

A :class:`Store` wraps a metadata store and a result store (by default the SQLite and file
stores of one directory) and is what node wrappers talk to:

- ``index``: cache key -> data version for the nodes of the plans run so far, loaded once
  per process and refreshed at the start of a run (at most every ``REFRESH_EVERY``) with one
  query for what other processes wrote since; a miss in it costs a dict lookup. The driver's
  own process trusts it during a run (*authoritative*); a worker process (which never sees a
  run start) refreshes the node's entries before it calls a key it does not know a miss.
- ``values``: the bytes of results read or written lately (``memory_bytes`` in all), so a
  hit usually costs an unpickle, not a read; when a node's index is first loaded, its newest
  results come with it (up to a quarter of that bound).
- small results are written in *packs*: one row per node and write batch, holding the keys
  and the pickles, and ``pack_of`` says which pack holds a key's result (reading one result
  reads its pack, and so the results written with it). A small primitive's data version is
  the value itself, so it is stored with no bytes at all.
- the writer and the reader threads of :mod:`asyncdag.caching._io`.

Stores are shared per process: every driver and every wrapper that names the same stores
(by their settings) gets the same :class:`Store`. It pickles as those settings; unpickled in
another process it opens that process's own :class:`Store`.
"""

from __future__ import annotations

import asyncio
import pickle
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import cloudpickle

from asyncdag.caching._commit import (
    Batch,
    PutEntry,
    forget_failed,
    unpack_keys,
    unpack_values,
    write_builtin,
    write_generic,
)
from asyncdag.caching._events import logger
from asyncdag.caching._fingerprint import checksum_ok
from asyncdag.caching._io import Op, Reader, Request, WriteOp, Writer, register_for_exit
from asyncdag.caching._memory import DEFAULT_MEMORY, ValueCache
from asyncdag.caching._sqlite import Database, EntryRow, ForeignDatabase
from asyncdag.caching._stores import FileResultStore, Prepared, SQLiteMetadataStore
from asyncdag.caching._stores_base import MetadataStore, ResultRetrievalError, ResultStore

__all__ = ["DEFAULT_MEMORY", "Fetched", "Store", "ValueCache", "forget_stores", "open_store"]

#: Seconds a refresh of the index serves the runs that start after it.
REFRESH_EVERY = 0.1
_LITERAL_TAGS = frozenset("ifsbny")  # versions that spell their value (see _fingerprint)


@dataclass
class Fetched:
    """What a lookup found for one cache key."""

    version: str | None = None  # None: no entry (a miss)
    fmt: str | None = None  # "object" when ``data`` is the result itself (a custom store)
    data: Any = None
    broken: str | None = None  # the entry exists but its result cannot be had: why
    pack: int | None = None  # the broken pack, when the result was in one


class Store:
    """See the module docstring. Built by :func:`open_store`."""

    def __init__(
        self,
        metadata: MetadataStore,
        results: ResultStore,
        *,
        authoritative: bool,
        memory_bytes: int = DEFAULT_MEMORY,
    ) -> None:
        self.metadata = metadata
        self.results = results
        self.authoritative = authoritative
        self.memory_bytes = memory_bytes
        self.index: dict[str, str] = {}
        self.pack_of: dict[str, int] = {}  # cache key -> the pack holding its result
        self.values = ValueCache(memory_bytes)
        self._loaded: set[tuple[str, str]] = set()
        self._hw = 0
        self._pack_hw = 0
        self._refreshed = -1e9
        self._lock = threading.Lock()
        self.disabled: str | None = None  # why this store cannot be used at all
        self._opened = False
        self.builtin = (
            isinstance(metadata, SQLiteMetadataStore)
            and isinstance(results, FileResultStore)
            and metadata.db.path == results.db.path
        )
        self.db: Database | None = metadata.db if self.builtin else None  # type: ignore[attr-defined]
        #: results pickled to at most this many bytes go to packs (several in one row)
        self.small_limit = results.inline_limit if isinstance(results, FileResultStore) else 0
        name = f"asyncdag-cache:{getattr(metadata, '_directory', '')}"
        self.writer = Writer(f"{name}:writer", self._commit, self._failed)
        self.reader = Reader(f"{name}:reader", self._serve)
        register_for_exit(self.writer)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_reopen, (self.metadata, self.results, self.memory_bytes))

    def __repr__(self) -> str:
        return f"<cache store {self.metadata!r} + {self.results!r}>"

    # -- opening -------------------------------------------------------------------------

    def ensure_open(self) -> bool:
        """Open the database on this thread (never an event loop's); ``False`` if unusable."""
        if self._opened:
            return self.disabled is None
        with self._lock:
            if not self._opened:
                if self.db is not None:
                    try:
                        self.db.local()
                    except ForeignDatabase as exc:
                        self.disabled = f"{exc}; delete it or use another cache path"
                        logger.warning("asyncdag cache off for this store: %s", self.disabled)
                self._opened = True
        return self.disabled is None

    # -- the index -----------------------------------------------------------------------

    def refresh(self, nodes: Iterable[tuple[str, str]]) -> None:
        """Load the entries of ``nodes`` (name, code version) not loaded yet, and every entry
        written since the last refresh. Blocking: call it on the reader thread."""
        if not self.ensure_open():
            return
        wanted = [n for n in nodes if n not in self._loaded]
        if self.db is None:
            return  # a custom metadata store: no bulk load, keys are checked one by one
        conn = self.db.local()
        with self.db.snapshot(conn):
            top = Database.last_rowid(conn)
            fresh = Database.entries_since(conn, self._hw) if self._hw < top else []
            loaded = [(n, Database.node_entries(conn, *n)) for n in wanted]
            pack_top = Database.last_pack_id(conn)
            fresh_packs = (
                Database.packs_since(conn, self._pack_hw) if self._pack_hw < pack_top else []
            )
            loaded_packs = [(n, Database.node_packs(conn, *n)) for n in wanted]
        index = self.index
        known = self._loaded
        for _, key, name, code, version in fresh:
            if (name, code) in known:
                index[key] = version
        for pack_id, name, code, keys in fresh_packs:
            if (name, code) in known:
                self._index_pack(pack_id, keys)
        for _node, rows in loaded:
            for _, key, version in rows:
                index[key] = version
        preload: list[int] = []
        budget = self.values.max_bytes // 4
        for node, packs in loaded_packs:
            for pack_id, keys, _ in packs:
                self._index_pack(pack_id, keys)
            for pack_id, _, size in reversed(packs):  # the newest first
                if size > budget:
                    break
                budget -= size
                preload.append(pack_id)
            known.add(node)
        if preload:
            # The results of nodes loaded for the first time, newest first, while there is room:
            # a rerun then finds them in memory instead of reading on the node's thread.
            self._preload(conn, preload)
        self._hw = max(self._hw, top)
        self._pack_hw = max(self._pack_hw, pack_top)
        self._refreshed = time.monotonic()

    def _preload(self, conn: Any, pack_ids: list[int]) -> None:
        for _, (data, size, checksum) in Database.pack_data(conn, pack_ids).items():
            if len(data) != size or not checksum_ok(data, checksum):
                continue  # a broken pack: read (and reported) when one of its results is asked
            try:
                values = unpack_values(data)
            except Exception:
                continue
            for version, value in values.items():
                self.values.put(version, "pickle", value)

    def _index_pack(self, pack_id: int, keys: bytes) -> None:
        try:
            names, versions = unpack_keys(keys)
        except Exception:  # a damaged pack: its entries are not known, so they are misses
            logger.warning("asyncdag cache: pack %d of %s cannot be read", pack_id, self.db)
            return
        self.index.update(zip(names, versions, strict=True))
        self.pack_of.update(dict.fromkeys(names, pack_id))

    def needs_refresh(self, nodes: Iterable[tuple[str, str]]) -> bool:
        """Whether a run of ``nodes`` must refresh the index before it starts: some of them
        are not loaded, or the last refresh is more than ``REFRESH_EVERY`` seconds old (what
        other processes wrote since then may be missed for that long: a miss, never wrong)."""
        if time.monotonic() - self._refreshed > REFRESH_EVERY:
            return True
        loaded = self._loaded
        return any(n not in loaded for n in nodes)

    def trusts(self, node: tuple[str, str]) -> bool:
        """Whether a key of ``node`` (name, code version) missing from the index is a miss
        without asking the database: in the driver's process, once the node is loaded."""
        return self.authoritative and node in self._loaded

    # -- reading -------------------------------------------------------------------------

    def fetch(
        self,
        keys: Sequence[str],
        versions: Sequence[str | None],
        nodes: Sequence[tuple[str, str]] = (),
    ) -> list[Fetched]:
        """For each key (and its data version, when the index knew it), what is stored;
        keys given without a version are looked up in the metadata store (after a refresh of
        ``nodes``, the nodes they belong to).

        Blocking: call it on a thread that is not an event loop's (the reader, a worker
        thread, a generator's pump).
        """
        out = [Fetched(version=v) for v in versions]
        if not self.ensure_open():
            for f in out:
                f.version, f.broken = None, None
            return out
        unknown = [k for k, v in zip(keys, versions, strict=True) if v is None]
        if unknown:
            if self.db is not None:  # what was written since (by any process), then the index
                self.refresh(nodes)
                found = {k: self.index[k] for k in unknown if k in self.index}
            else:
                found = self._entries(unknown)
            for key, f in zip(keys, out, strict=True):
                if f.version is None and key in found:
                    f.version = found[key]
                    self.index[key] = found[key]
        need = []
        key_of: dict[int, str] = {}
        for key, f in zip(keys, out, strict=True):
            if f.version is None:
                continue
            if f.version[0] in _LITERAL_TAGS:  # the version spells the value
                f.fmt = "literal"
                continue
            cached = self.values.get(f.version)
            if cached is not None:
                f.fmt, f.data = cached
            else:
                need.append(f)
                key_of[id(f)] = key
        if need and self.db is not None:
            need = self._read_packs(need, key_of)
        if need:
            self._read_results(need)
        return out

    def _entries(self, keys: Sequence[str]) -> dict[str, str]:
        if self.db is not None:
            return Database.entries(self.db.local(), keys)
        return self.metadata.get_many(keys)

    def _read_packs(self, need: list[Fetched], keys: dict[int, str]) -> list[Fetched]:
        """Read the packs holding what ``need`` asks for (all their values go to memory);
        returns what is still needed."""
        assert self.db is not None
        by_pack: dict[int, list[Fetched]] = {}
        rest = []
        for f in need:
            pack_id = self.pack_of.get(keys[id(f)])
            if pack_id is None:
                rest.append(f)
            else:
                by_pack.setdefault(pack_id, []).append(f)
        if not by_pack:
            return need
        found = Database.pack_data(self.db.local(), sorted(by_pack))
        for pack_id, waiting in by_pack.items():
            row = found.get(pack_id)
            problem = None
            values: dict[str, bytes] = {}
            if row is None:
                problem = "its pack of results is missing from the database"
            else:
                data, size, checksum = row
                if len(data) != size:
                    problem = f"its pack of results is truncated ({len(data)} of {size} bytes)"
                elif not checksum_ok(data, checksum):
                    problem = "its pack of results is corrupted (checksum mismatch)"
                else:
                    try:
                        values = unpack_values(data)
                    except Exception as exc:
                        problem = f"its pack of results cannot be read ({exc!r})"
            for version, value in values.items():
                self.values.put(version, "pickle", value)
            for f in waiting:
                got = values.get(f.version or "")
                if got is None:
                    f.broken = problem or "its result is missing from its pack"
                    f.pack = pack_id
                else:
                    f.fmt, f.data = "pickle", got
        return rest

    def _read_results(self, need: list[Fetched]) -> None:
        if self.builtin:
            assert self.db is not None and isinstance(self.results, FileResultStore)
            store = self.results
            rows = store.rows(self.db.local(), sorted({f.version for f in need if f.version}))
            for f in need:
                assert f.version is not None
                row = rows.get(f.version)
                if row is None:
                    f.broken = "its result is missing from the result store"
                    continue
                try:
                    data = store.payload(row)
                except ResultRetrievalError as exc:
                    f.broken = str(exc)
                    continue
                f.fmt, f.data = row[1], data
                if row[1] == "pickle":
                    self.values.put(f.version, row[1], data)
            return
        for f in need:
            assert f.version is not None
            try:
                value = self.results.get(f.version)
            except Exception as exc:
                f.broken = f"the result store failed: {exc!r}"
                continue
            if value is None:
                f.broken = "its result is missing from the result store"
            else:
                f.fmt, f.data = "object", value

    async def afetch(
        self,
        keys: Sequence[str],
        versions: Sequence[str | None],
        nodes: Sequence[tuple[str, str]] = (),
    ) -> list[Fetched]:
        """:meth:`fetch` on the reader thread, awaited."""
        req = Request("fetch", (keys, versions, nodes), asyncio.get_running_loop())
        self.reader.submit(req)
        assert req.future is not None
        result: list[Fetched] = await req.future
        return result

    async def arefresh(self, nodes: Sequence[tuple[str, str]]) -> None:
        req = Request("refresh", nodes, asyncio.get_running_loop())
        self.reader.submit(req)
        assert req.future is not None
        await req.future

    def _serve(self, batch: list[Request]) -> None:
        refresh: list[tuple[str, str]] = []
        refreshers = [r for r in batch if r.kind == "refresh"]
        for req in refreshers:
            refresh.extend(req.payload)
        if refreshers:
            try:
                self.refresh(refresh)
            except Exception as exc:
                for req in refreshers:
                    req.error = exc
        fetches = [r for r in batch if r.kind == "fetch"]
        if fetches:
            keys = [k for r in fetches for k in r.payload[0]]
            versions = [v for r in fetches for v in r.payload[1]]
            nodes = sorted({n for r in fetches for n in r.payload[2]})
            try:
                found = self.fetch(keys, versions, nodes)
            except Exception as exc:
                for req in fetches:
                    req.error = exc
            else:
                i = 0
                for req in fetches:
                    n = len(req.payload[0])
                    req.result = found[i : i + n]
                    i += n
        for req in batch:
            if req.kind == "call":
                try:
                    req.result = req.payload()
                except Exception as exc:
                    req.error = exc

    async def acall(self, fn: Any) -> Any:
        """Run ``fn()`` on the reader thread, awaited (for the rare reads with no batch)."""
        req = Request("call", fn, asyncio.get_running_loop())
        self.reader.submit(req)
        assert req.future is not None
        return await req.future

    # -- writing -------------------------------------------------------------------------

    def put(self, row: EntryRow, result: Prepared | None, value: Any = None) -> None:
        """Store an entry (and its result); the index and memory know it at once."""
        if self.disabled is not None:
            return
        key, _, _, version, _ = row
        self.index[key] = version
        nbytes = 0
        if result is not None:
            nbytes = len(result.data)
            if result.format == "pickle":
                self.values.put(version, result.format, result.data)
        self.writer.submit(WriteOp("put", PutEntry(row, result, value), nbytes))

    def put_small(
        self, key: str, node: str, code: str, version: str, run_id: str | None, data: bytes
    ) -> None:
        """Store an entry whose result is a small pickle: it goes to its node's next pack."""
        if self.disabled is not None:
            return
        self.index[key] = version
        if data:
            self.values.put(version, "pickle", data)
            self.writer.submitted_bytes += len(data)
        # a bare tuple, not a WriteOp: this runs once per stored result
        self.writer.thread.submit((key, node, code, version, run_id, data))

    def put_pack(
        self, keys: list[str], node: str, code: str, versions: list[str], run_id: str | None
    ) -> None:
        """:meth:`put_small` for many entries of ``node`` whose versions spell their results
        (literals): one op for all of them."""
        if self.disabled is not None:
            return
        self.index.update(zip(keys, versions, strict=True))
        self.writer.submit(WriteOp("pack", (keys, node, code, versions, run_id)))

    def put_result(self, result: Prepared) -> None:
        """Store a result that no entry names yet (an expander's items)."""
        if self.disabled is not None:
            return
        if result.format == "pickle":
            self.values.put(result.data_version, result.format, result.data)
        self.writer.submit(WriteOp("result", result, len(result.data)))

    def forget(self, key: str, version: str | None, pack: int | None = None) -> None:
        """Drop an entry whose result is broken, so that the node's new result replaces it
        (and the pack it was in, when that pack is the broken part)."""
        self.index.pop(key, None)
        self.pack_of.pop(key, None)
        if version is not None:
            self.values.discard(version)
        self.writer.submit(WriteOp("forget", (key, version, pack)))

    def relay_events(self, run_id: str, events: list[Any]) -> None:
        """Events of a run recorded in this (worker) process, for the driver's process."""
        if self.disabled is None and self.builtin:
            self.writer.submit(WriteOp("events", (run_id, events)))

    def run_events(self, run_id: str) -> list[Any]:
        """The events that worker processes relayed for ``run_id`` (blocking; not a loop's)."""
        if self.db is None or not self.ensure_open():
            return []
        found = []
        for blob in Database.events(self.db.local(), run_id):
            try:
                found.extend(pickle.loads(blob))
            except Exception:
                continue
        return found

    def record_run(self, run_id: str) -> None:
        self.writer.submit(WriteOp("run", (run_id, time.time())))

    def _commit(self, ops: list[Op]) -> None:
        if not self.ensure_open():
            return
        batch = Batch.of(ops)
        if self.builtin:
            assert self.db is not None and isinstance(self.results, FileResultStore)
            for pack_id, keys in write_builtin(batch, self.db, self.results):
                self.pack_of.update(dict.fromkeys(keys, pack_id))
        else:
            write_generic(batch, self.metadata, self.results)

    def _failed(self, ops: list[Op], error: BaseException) -> None:
        nodes = forget_failed(ops, self.index, self.values)
        logger.warning(
            "asyncdag cache: could not store %d result(s)%s: %r; they will be computed again"
            " next time",
            len(ops),
            f" of node(s) {', '.join(map(repr, nodes))}" if nodes else "",
            error,
        )

    def flush(self, timeout: float | None = None) -> bool:
        return self.writer.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        self.writer.close(timeout)
        self.reader.close(timeout)


_registry: dict[Any, Store] = {}
_registry_lock = threading.Lock()


def _settings(store: Any) -> Any:
    if isinstance(store, SQLiteMetadataStore):
        return ("sqlite", store.db.directory)
    if isinstance(store, FileResultStore):
        return ("file", str(store.path), store.inline_limit)
    try:
        return (type(store), bytes(cloudpickle.dumps(store)))
    except Exception:
        return (type(store), id(store))


def open_store(
    metadata: MetadataStore,
    results: ResultStore,
    *,
    authoritative: bool,
    memory_bytes: int = DEFAULT_MEMORY,
) -> Store:
    """This process's :class:`Store` for these stores (made on first use)."""
    key = (_settings(metadata), _settings(results))
    with _registry_lock:
        found = _registry.get(key)
        if found is None:
            found = _registry[key] = Store(
                metadata, results, authoritative=authoritative, memory_bytes=memory_bytes
            )
        elif authoritative and not found.authoritative:
            found.authoritative = True
        return found


def _reopen(metadata: MetadataStore, results: ResultStore, memory_bytes: int) -> Store:
    return open_store(metadata, results, authoritative=False, memory_bytes=memory_bytes)


def forget_stores() -> None:
    """Drop this process's stores (after flushing them): the next use opens them afresh."""
    with _registry_lock:
        stores = list(_registry.values())
        _registry.clear()
    for store in stores:
        store.close(10.0)
