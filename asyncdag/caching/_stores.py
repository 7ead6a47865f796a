"""The built-in stores: SQLite metadata, file results, and in-memory twins of both.

``SQLiteMetadataStore(path)`` and ``FileResultStore(path)`` share the database file under
``path`` (see :mod:`asyncdag.caching._sqlite`). A result is pickled unless its node says
otherwise (``@cache(format=...)``); a pickle up to ``inline_limit`` bytes is kept in the
database, anything larger, and every other format, in a file ``results/ab/abcd....ext``
written atomically (a temporary file renamed into place). Each result carries its size and
CRC-32 checksum, checked when it is read: a truncated, corrupted or missing file is a
:class:`ResultRetrievalError`, which the cache turns into a miss.
"""

from __future__ import annotations

import os
import pickle
import shutil
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncdag.caching import _formats
from asyncdag.caching._fingerprint import checksum, checksum_ok, digest, literal
from asyncdag.caching._sqlite import Database, EntryRow, ResultRow
from asyncdag.caching._stores_base import MetadataStore, ResultRetrievalError, ResultStore

__all__ = [
    "INLINE_LIMIT",
    "FileResultStore",
    "InMemoryMetadataStore",
    "InMemoryResultStore",
    "Prepared",
    "SQLiteMetadataStore",
]

#: Pickles up to this size live in the database; larger ones in files.
INLINE_LIMIT = 128 * 1024


class SQLiteMetadataStore(MetadataStore):
    """Metadata in ``path/asyncdag_cache.db`` (SQLite, WAL). Safe to share between threads
    and processes; pickles as its path.

    Example::

        store = SQLiteMetadataStore(".asyncdag_cache")
        store.get_run_ids()
    """

    def __init__(
        self, path: str | os.PathLike[str], connection_kwargs: dict[str, Any] | None = None
    ):
        self.connection_kwargs = dict(connection_kwargs or {})
        self.db = Database(path, busy_timeout=float(self.connection_kwargs.get("timeout", 60.0)))
        self._directory = Path(self.db.directory)

    def __reduce__(self) -> tuple[Any, ...]:
        return (SQLiteMetadataStore, (self.db.directory, self.connection_kwargs))

    def __repr__(self) -> str:
        return f"SQLiteMetadataStore({self.db.directory!r})"

    @property
    def connection(self) -> Any:
        """This thread's connection to the database."""
        return self.db.local()

    def __len__(self) -> int:
        conn = self.db.local()
        return Database.count(conn, "entries") + Database.packed_count(conn)

    def initialize(self, run_id: str) -> None:
        self.initialize_many([(run_id, _now())])

    def initialize_many(self, run_ids: Sequence[tuple[str, float]]) -> None:
        conn = self.db.local()
        with self.db.transaction(conn):
            Database.put_runs(conn, run_ids)

    def set(
        self,
        cache_key: str,
        data_version: str,
        run_id: str | None = None,
        node_name: str | None = None,
        code_version: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.set_many([(cache_key, node_name or "", code_version or "", data_version, run_id)])

    def set_many(self, rows: Sequence[EntryRow]) -> None:
        conn = self.db.local()
        with self.db.transaction(conn):
            Database.put_entries(conn, rows)

    def get(self, cache_key: str, **kwargs: Any) -> str | None:
        return self.get_many([cache_key]).get(cache_key)

    def get_many(self, keys: Sequence[str]) -> dict[str, str]:
        """The stored data versions of ``keys`` (the entries, then the packs: a scan)."""
        conn = self.db.local()
        found = Database.entries(conn, keys)
        wanted = set(keys) - set(found)
        if wanted:
            for _, _, _, _, packed, _ in Database.all_packs(conn):
                keys, versions = pickle.loads(packed)
                for key, version in zip(keys, versions, strict=True):
                    if key in wanted:
                        found[key] = version
        return found

    def exists(self, cache_key: str) -> bool:
        return self.get(cache_key) is not None

    def delete(self, cache_key: str) -> None:
        self.delete_many([cache_key])

    def delete_many(self, keys: Sequence[str]) -> None:
        doomed = set(keys)
        conn = self.db.local()
        with self.db.transaction(conn):
            Database.delete_entries(conn, keys)
            for pack_id, node, code, run_id, packed, data in Database.all_packs(conn):
                keys, versions = pickle.loads(packed)
                kept = [(k, v) for k, v in zip(keys, versions, strict=True) if k not in doomed]
                if len(kept) == len(keys):
                    continue
                Database.delete_packs(conn, [pack_id])
                if kept:  # the pack again, without the deleted keys
                    still = {v for _, v in kept}
                    old_versions, old_data = pickle.loads(data)
                    values = [
                        (v, d) for v, d in zip(old_versions, old_data, strict=True) if v in still
                    ]
                    blob = pickle.dumps(
                        ([v for v, _ in values], [d for _, d in values]), protocol=5
                    )
                    keys_blob = pickle.dumps(
                        ([k for k, _ in kept], [v for _, v in kept]), protocol=5
                    )
                    size, check = len(blob), checksum(blob)
                    row = (node, code, run_id, len(kept), keys_blob, blob, size, check)
                    Database.put_packs(conn, [row])

    def delete_all(self) -> None:
        conn = self.db.local()
        with self.db.transaction(conn):
            Database.clear(conn, "entries")
            Database.clear(conn, "packs")
            Database.clear(conn, "runs")

    def get_run_ids(self) -> list[str]:
        return Database.run_ids(self.db.local())

    def get_run(self, run_id: str) -> list[dict[str, Any]]:
        if run_id not in self.get_run_ids():
            raise IndexError(f"run {run_id!r} is not in the metadata store")
        conn = self.db.local()
        found = Database.run_entries(conn, run_id)
        for _, node, code, pack_run, packed, _ in Database.all_packs(conn):
            if pack_run == run_id:
                keys, versions = pickle.loads(packed)
                found.extend(
                    {"cache_key": k, "data_version": v, "node_name": node, "code_version": code}
                    for k, v in zip(keys, versions, strict=True)
                )
        return found


@dataclass
class Prepared:
    """A result encoded for storage, made on the thread that computed it."""

    data_version: str
    format: str
    data: bytes
    checksum: str  # "" until it is needed (a result in a pack needs none of its own)


class FileResultStore(ResultStore):
    """Results under ``path``: small pickles in the cache database, the rest in files.

    Pickles as its path and options. Example::

        store = FileResultStore(".asyncdag_cache")
        store.get(data_version)       # the result, or None
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        create_dir: bool = True,
        *,
        inline_limit: int = INLINE_LIMIT,
    ) -> None:
        self.path = Path(os.path.abspath(os.fspath(path)))
        self.create_dir = create_dir
        self.inline_limit = inline_limit
        self.files = self.path / "results"
        if create_dir:
            self.files.mkdir(parents=True, exist_ok=True)
        self.db = Database(self.path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_file_store, (str(self.path), self.create_dir, self.inline_limit))

    def __repr__(self) -> str:
        return f"FileResultStore({str(self.path)!r})"

    # -- the cache's side ------------------------------------------------------------------

    @staticmethod
    def prepare(data_version: str, value: Any, format: str = "pickle") -> Prepared:
        """Encode ``value`` (on the calling thread: the bytes are a snapshot of it now).

        Raises :class:`asyncdag.caching._formats.FormatError` when ``format`` cannot hold it
        exactly, and what pickling raises when it cannot be pickled.
        """
        used, data = _formats.encode(format, value)
        return Prepared(data_version, used, data, "")

    def file_name(self, data_version: str, format: str) -> str:
        name = digest(data_version.encode("utf-8", "surrogatepass"))
        return f"{name[:2]}/{name}.{_formats.get_format(format).extension}"

    def write(self, conn: Any, items: Sequence[Prepared]) -> None:
        """Write files, then their rows, in the caller's transaction on ``conn``."""
        rows: list[ResultRow] = []
        for item in items:
            if not item.checksum:
                item.checksum = checksum(item.data)
            if item.format == "pickle" and len(item.data) <= self.inline_limit:
                rows.append(
                    (item.data_version, item.format, len(item.data), item.checksum, item.data, None)
                )
                continue
            name = self.file_name(item.data_version, item.format)
            _write_atomic(self.files / name, item.data)
            rows.append((item.data_version, item.format, len(item.data), item.checksum, None, name))
        Database.put_results(conn, rows)

    def rows(self, conn: Any, versions: Sequence[str]) -> dict[str, ResultRow]:
        return Database.results(conn, versions)

    def payload(self, row: ResultRow) -> bytes:
        """The bytes of a stored result, checked; raises :class:`ResultRetrievalError`."""
        version, _fmt, size, checksum, value, name = row
        if value is None:
            if name is None:
                raise ResultRetrievalError(f"result {version} has neither bytes nor a file")
            path = self.files / name
            try:
                value = path.read_bytes()
            except FileNotFoundError:
                raise ResultRetrievalError(f"result file {path} is missing") from None
            except OSError as exc:
                raise ResultRetrievalError(f"result file {path} cannot be read: {exc}") from exc
            where = f"result file {path}"
        else:
            where = f"result {version} in {self.db.path}"
        if len(value) != size:
            raise ResultRetrievalError(f"{where} is truncated ({len(value)} of {size} bytes)")
        if not checksum_ok(value, checksum):
            raise ResultRetrievalError(f"{where} is corrupted (checksum mismatch)")
        return value

    @staticmethod
    def decode(row: ResultRow, data: bytes) -> Any:
        try:
            return _formats.get_format(row[1]).decode(data)
        except Exception as exc:
            raise ResultRetrievalError(
                f"result {row[0]} cannot be decoded as {row[1]}: {exc}"
            ) from exc

    def delete_rows(self, conn: Any, versions: Sequence[str]) -> None:
        for _version, row in self.rows(conn, versions).items():
            if row[5] is not None:
                (self.files / row[5]).unlink(missing_ok=True)
        Database.delete_results(conn, versions)

    # -- Hamilton's interface --------------------------------------------------------------

    def set(self, data_version: str, result: Any, **kwargs: Any) -> None:
        prepared = self.prepare(data_version, result, kwargs.get("format", "pickle"))
        conn = self.db.local()
        with self.db.transaction(conn):
            self.write(conn, [prepared])

    def get(self, data_version: str, **kwargs: Any) -> Any | None:
        row = self.rows(self.db.local(), [data_version]).get(data_version)
        if row is None:
            packed = self._packed(data_version)
            return None if packed is None else pickle.loads(packed)
        return self.decode(row, self.payload(row))

    def _packed(self, data_version: str) -> bytes | None:
        """A small result from a pack (a scan of every pack: an inspection, not the cache)."""
        for _, _, _, _, packed, data in Database.all_packs(self.db.local()):
            versions, values = pickle.loads(data)
            for version, value in zip(versions, values, strict=True):
                if version == data_version:
                    found: bytes = value
                    return found
            if data_version[:1] in "ifsbny" and data_version in pickle.loads(packed)[1]:
                return pickle.dumps(literal(data_version)[1])  # a literal: its version spells it
        return None

    def exists(self, data_version: str) -> bool:
        row = self.rows(self.db.local(), [data_version]).get(data_version)
        if row is None:
            return self._packed(data_version) is not None
        return row[4] is not None or (row[5] is not None and (self.files / row[5]).exists())

    def delete(self, data_version: str) -> None:
        conn = self.db.local()
        with self.db.transaction(conn):
            self.delete_rows(conn, [data_version])

    def delete_all(self) -> None:
        conn = self.db.local()
        with self.db.transaction(conn):
            Database.clear(conn, "results")
            Database.clear(conn, "packs")
        shutil.rmtree(self.files, ignore_errors=True)
        self.files.mkdir(parents=True, exist_ok=True)


def _file_store(path: str, create_dir: bool, inline_limit: int) -> FileResultStore:
    return FileResultStore(path, create_dir, inline_limit=inline_limit)


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _now() -> float:
    return time.time()


class InMemoryMetadataStore(MetadataStore):
    """Metadata in a dict: fast, lost when the process ends, not shared with workers.

    ``persist_to(store)`` copies it into another metadata store; ``load_from(store)`` makes
    one from another store's entries.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[str, str, str, str | None]] = {}
        self._runs: list[str] = []

    def __len__(self) -> int:
        return len(self._entries)

    def initialize(self, run_id: str) -> None:
        with self._lock:
            if run_id not in self._runs:
                self._runs.append(run_id)

    def set(self, cache_key: str, data_version: str, **kwargs: Any) -> None:
        with self._lock:
            self._entries[cache_key] = (
                data_version,
                kwargs.get("node_name") or "",
                kwargs.get("code_version") or "",
                kwargs.get("run_id"),
            )

    def get(self, cache_key: str, **kwargs: Any) -> str | None:
        found = self._entries.get(cache_key)
        return found[0] if found else None

    def exists(self, cache_key: str) -> bool:
        return cache_key in self._entries

    def delete(self, cache_key: str) -> None:
        with self._lock:
            self._entries.pop(cache_key, None)

    def delete_all(self) -> None:
        with self._lock:
            self._entries.clear()
            self._runs.clear()

    def get_run_ids(self) -> list[str]:
        return list(self._runs)

    def get_run(self, run_id: str) -> list[dict[str, Any]]:
        if run_id not in self._runs:
            raise IndexError(f"run {run_id!r} is not in the metadata store")
        return [
            {"cache_key": k, "data_version": d, "node_name": n, "code_version": c}
            for k, (d, n, c, r) in list(self._entries.items())
            if r == run_id
        ]

    def persist_to(self, other: MetadataStore) -> None:
        for run_id in self._runs:
            other.initialize(run_id)
        other.set_many([(k, n, c, d, r) for k, (d, n, c, r) in list(self._entries.items())])

    @classmethod
    def load_from(cls, other: MetadataStore) -> InMemoryMetadataStore:
        new = cls()
        for run_id in other.get_run_ids():
            new.initialize(run_id)
            for entry in other.get_run(run_id):
                new.set(
                    entry["cache_key"],
                    entry["data_version"],
                    node_name=entry["node_name"],
                    code_version=entry["code_version"],
                    run_id=run_id,
                )
        return new


class InMemoryResultStore(ResultStore):
    """Results in a dict, pickled (so a hit never hands out an object someone mutated)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._results: dict[str, bytes] = {}

    def set(self, data_version: str, result: Any, **kwargs: Any) -> None:
        data = _formats.encode("pickle", result)[1]
        with self._lock:
            self._results[data_version] = data

    def get(self, data_version: str, **kwargs: Any) -> Any | None:
        data = self._results.get(data_version)
        return None if data is None else pickle.loads(data)

    def exists(self, data_version: str) -> bool:
        return data_version in self._results

    def delete(self, data_version: str) -> None:
        with self._lock:
            self._results.pop(data_version, None)

    def delete_all(self) -> None:
        with self._lock:
            self._results.clear()

    def persist_to(self, other: ResultStore) -> None:
        for version, data in list(self._results.items()):
            other.set(version, pickle.loads(data))

    @classmethod
    def load_from(
        cls,
        result_store: ResultStore,
        metadata_store: MetadataStore | None = None,
        data_versions: Sequence[str] | None = None,
    ) -> InMemoryResultStore:
        if data_versions is None:
            if metadata_store is None:
                raise ValueError("pass metadata_store or data_versions to know what to load")
            data_versions = [
                e["data_version"]
                for run_id in metadata_store.get_run_ids()
                for e in metadata_store.get_run(run_id)
            ]
        new = cls()
        for version in data_versions:
            found = result_store.get(version)
            if found is not None:
                new.set(version, found)
        return new
