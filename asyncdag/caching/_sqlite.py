"""The cache's SQLite database: schema, connections, and every statement it runs.

One file, ``asyncdag_cache.db`` under the cache path, in WAL mode: readers never wait for the
writer, and several processes may write (SQLite serialises their transactions; a writer
waits up to ``busy_timeout`` for another's lock). Three tables:

- ``entries``: cache key -> data version, with the node, its code version and the run that
  wrote it (the metadata store);
- ``results``: data version -> format, size, checksum, and either the bytes (small pickles,
  kept in the database) or the name of a file under ``results/`` (the result store);
- ``packs``: the small results of one node written in one batch: a blob of (key, version)
  pairs and a blob of (version, bytes) pairs, one row instead of two per result (a row per
  result cost the writer more than the node calls it stored);
- ``runs``: the run ids, in the order they started;
- ``events``: what worker processes did for a run (its hits and executed nodes), for the
  driver's ``dr.cache.logs``.

The file says what it is: ``PRAGMA application_id`` is asyncdag's and ``PRAGMA user_version``
the schema's. A file that is not ours, or of another schema, raises :class:`ForeignDatabase`
when opened and is never written to.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

__all__ = [
    "APPLICATION_ID",
    "DB_NAME",
    "SCHEMA",
    "Database",
    "EntryRow",
    "ForeignDatabase",
    "PackRow",
    "ResultRow",
]

DB_NAME = "asyncdag_cache.db"
APPLICATION_ID = 0x61444147  # "aDAG"
SCHEMA = 1
_MAX_PARAMS = 999  # host parameters per statement (the limit of old SQLite builds)

_TABLES = (
    """CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY,
        started REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS entries (
        cache_key TEXT PRIMARY KEY,
        node_name TEXT NOT NULL,
        code_version TEXT NOT NULL,
        data_version TEXT NOT NULL,
        run_id TEXT,
        created REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS entries_by_node ON entries (node_name, code_version)",
    # the small results of one node from one batch of writes: keys and values in two blobs,
    # so that loading the index reads the keys only
    """CREATE TABLE IF NOT EXISTS packs (
        pack_id INTEGER PRIMARY KEY AUTOINCREMENT,
        node_name TEXT NOT NULL,
        code_version TEXT NOT NULL,
        run_id TEXT,
        count INTEGER NOT NULL,
        keys BLOB NOT NULL,
        data BLOB NOT NULL,
        size INTEGER NOT NULL,
        checksum TEXT NOT NULL,
        created REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS packs_by_node ON packs (node_name, code_version)",
    # what worker processes did for a run (the driver's own process keeps its events in memory)
    """CREATE TABLE IF NOT EXISTS events (
        run_id TEXT NOT NULL,
        data BLOB NOT NULL,
        created REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS events_by_run ON events (run_id)",
    """CREATE TABLE IF NOT EXISTS results (
        data_version TEXT PRIMARY KEY,
        format TEXT NOT NULL,
        size INTEGER NOT NULL,
        checksum TEXT NOT NULL,
        value BLOB,
        file TEXT,
        created REAL NOT NULL
    )""",
)

# cache_key, node_name, code_version, data_version, run_id
EntryRow = tuple[str, str, str, str, str | None]
# data_version, format, size, checksum, value (bytes, or None when in a file), file name
ResultRow = tuple[str, str, int, str, bytes | None, str | None]
# node_name, code_version, run_id, count, keys, data, size, checksum
PackRow = tuple[str, str, str | None, int, bytes, bytes, int, str]


class ForeignDatabase(Exception):
    """The database file is not an asyncdag cache of this schema (or is not a database)."""


def _chunks(items: Sequence[Any], size: int = _MAX_PARAMS) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _insert_many(
    conn: sqlite3.Connection, head: str, width: int, rows: Sequence[tuple[Any, ...]]
) -> None:
    """Many rows per statement. Each statement lets go of the GIL and must get it back; with a
    busy event loop in another thread that costs up to a switch interval (5 ms) each time, so
    ``executemany`` (a statement per row) made a batch of a thousand rows take seconds."""
    per = max(1, _MAX_PARAMS // width)
    row_marks = "(" + ",".join("?" * width) + ")"
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        conn.execute(head + ",".join([row_marks] * len(chunk)), [v for row in chunk for v in row])


class Database:
    """One cache database file. Connections are per thread; the object pickles as its path."""

    def __init__(self, directory: str | os.PathLike[str], *, busy_timeout: float = 60.0) -> None:
        self.directory = os.path.abspath(os.fspath(directory))
        self.path = os.path.join(self.directory, DB_NAME)
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._checked = False

    def __reduce__(self) -> tuple[Any, ...]:
        return (Database, (self.directory,), {"busy_timeout": self.busy_timeout})

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.busy_timeout = state["busy_timeout"]

    # -- connections -----------------------------------------------------------------------

    def connect(self) -> sqlite3.Connection:
        """A new connection (autocommit; transactions are opened explicitly), schema checked.

        Raises :class:`ForeignDatabase` for a file that is not ours.
        """
        os.makedirs(self.directory, exist_ok=True)
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise ForeignDatabase(f"cannot open {self.path}: {exc}") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            self._check_or_create(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
        except ForeignDatabase:
            conn.close()
            raise
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise ForeignDatabase(f"{self.path} is not a usable SQLite database: {exc}") from exc
        return conn

    def _check_or_create(self, conn: sqlite3.Connection) -> None:
        app, version = self._identity(conn)
        if app == APPLICATION_ID and version == SCHEMA:
            self._wal(conn)
            return
        if app == 0 and version == 0:
            conn.execute("BEGIN IMMEDIATE")  # one process creates; the others wait, then see it
            try:
                app, version = self._identity(conn)
                if app == 0 and version == 0:
                    tables = conn.execute(
                        "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                    ).fetchone()[0]
                    if tables:
                        raise ForeignDatabase(
                            f"{self.path} holds tables but is not an asyncdag cache"
                        )
                    for statement in _TABLES:
                        conn.execute(statement)
                    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    conn.execute(f"PRAGMA user_version = {SCHEMA}")
                    app, version = APPLICATION_ID, SCHEMA
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        if app != APPLICATION_ID:
            raise ForeignDatabase(f"{self.path} is not an asyncdag cache database")
        if version != SCHEMA:
            raise ForeignDatabase(
                f"{self.path} was written by another asyncdag version (cache schema {version};"
                f" this version reads schema {SCHEMA})"
            )
        self._wal(conn)

    @staticmethod
    def _identity(conn: sqlite3.Connection) -> tuple[int, int]:
        app = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        return int(app), int(version)

    def _wal(self, conn: sqlite3.Connection) -> None:
        # WAL is a property of the file: set once, kept. Another process holding the file in
        # rollback mode makes the switch wait (busy_timeout) or fail; then keep what it is.
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            try:
                conn.execute("PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError:
                pass

    def local(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self.connect()
            self._local.conn = conn
        return conn

    def close_local(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            conn.close()

    @contextmanager
    def transaction(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error)."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def snapshot(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees the same state of the file."""
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    # -- writing ---------------------------------------------------------------------------

    @staticmethod
    def put_results(conn: sqlite3.Connection, rows: Iterable[ResultRow]) -> None:
        now = time.time()
        _insert_many(
            conn,
            "INSERT OR REPLACE INTO results"
            " (data_version, format, size, checksum, value, file, created) VALUES ",
            7,
            [(*row, now) for row in rows],
        )

    @staticmethod
    def put_entries(conn: sqlite3.Connection, rows: Iterable[EntryRow]) -> None:
        now = time.time()
        _insert_many(
            conn,
            "INSERT OR REPLACE INTO entries"
            " (cache_key, node_name, code_version, data_version, run_id, created) VALUES ",
            6,
            [(*row, now) for row in rows],
        )

    @staticmethod
    def put_runs(conn: sqlite3.Connection, run_ids: Iterable[tuple[str, float]]) -> None:
        _insert_many(conn, "INSERT OR IGNORE INTO runs (run_id, started) VALUES ", 2, list(run_ids))

    @staticmethod
    def put_packs(conn: sqlite3.Connection, rows: Sequence[PackRow]) -> list[int]:
        """Insert packs; their ids, in order."""
        now = time.time()
        ids = []
        for row in rows:
            cur = conn.execute(
                "INSERT INTO packs (node_name, code_version, run_id, count, keys, data, size,"
                " checksum, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*row, now),
            )
            ids.append(int(cur.lastrowid or 0))
        return ids

    @staticmethod
    def delete_packs(conn: sqlite3.Connection, ids: Sequence[int]) -> None:
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            conn.execute(f"DELETE FROM packs WHERE pack_id IN ({marks})", tuple(chunk))

    @staticmethod
    def node_packs(conn: sqlite3.Connection, node_name: str, code_version: str) -> list[Any]:
        """(pack id, keys blob, data size) of one node at one code version, oldest first."""
        return conn.execute(
            "SELECT pack_id, keys, size FROM packs WHERE node_name = ? AND code_version = ?"
            " ORDER BY pack_id",
            (node_name, code_version),
        ).fetchall()

    @staticmethod
    def packs_since(conn: sqlite3.Connection, pack_id: int) -> list[Any]:
        """(pack id, node, code version, keys blob) of packs written after ``pack_id``."""
        return conn.execute(
            "SELECT pack_id, node_name, code_version, keys FROM packs WHERE pack_id > ?",
            (pack_id,),
        ).fetchall()

    @staticmethod
    def last_pack_id(conn: sqlite3.Connection) -> int:
        found = conn.execute("SELECT max(pack_id) FROM packs").fetchone()[0]
        return int(found or 0)

    @staticmethod
    def pack_data(
        conn: sqlite3.Connection, ids: Sequence[int]
    ) -> dict[int, tuple[bytes, int, str]]:
        """pack id -> (data blob, size, checksum)."""
        found: dict[int, tuple[bytes, int, str]] = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            for pid, data, size, checksum in conn.execute(
                f"SELECT pack_id, data, size, checksum FROM packs WHERE pack_id IN ({marks})",
                tuple(chunk),
            ):
                found[int(pid)] = (data, size, checksum)
        return found

    @staticmethod
    def all_packs(conn: sqlite3.Connection) -> list[Any]:
        """(pack id, node, code version, run id, keys blob, data blob) of every pack."""
        return conn.execute(
            "SELECT pack_id, node_name, code_version, run_id, keys, data FROM packs"
        ).fetchall()

    @staticmethod
    def put_events(conn: sqlite3.Connection, rows: Sequence[tuple[str, bytes]]) -> None:
        now = time.time()
        _insert_many(
            conn, "INSERT INTO events (run_id, data, created) VALUES ", 3, [(*r, now) for r in rows]
        )

    @staticmethod
    def events(conn: sqlite3.Connection, run_id: str) -> list[bytes]:
        return [
            r[0]
            for r in conn.execute(
                "SELECT data FROM events WHERE run_id = ? ORDER BY rowid", (run_id,)
            )
        ]

    @staticmethod
    def delete_entries(conn: sqlite3.Connection, keys: Sequence[str]) -> None:
        for chunk in _chunks(keys):
            marks = ",".join("?" * len(chunk))
            conn.execute(f"DELETE FROM entries WHERE cache_key IN ({marks})", tuple(chunk))

    @staticmethod
    def delete_results(conn: sqlite3.Connection, versions: Sequence[str]) -> None:
        for chunk in _chunks(versions):
            marks = ",".join("?" * len(chunk))
            conn.execute(f"DELETE FROM results WHERE data_version IN ({marks})", tuple(chunk))

    # -- reading ---------------------------------------------------------------------------

    @staticmethod
    def entries(conn: sqlite3.Connection, keys: Sequence[str]) -> dict[str, str]:
        """cache key -> data version, for the keys that are stored."""
        found: dict[str, str] = {}
        for chunk in _chunks(keys):
            marks = ",".join("?" * len(chunk))
            found.update(
                conn.execute(
                    f"SELECT cache_key, data_version FROM entries WHERE cache_key IN ({marks})",
                    tuple(chunk),
                )
            )
        return found

    @staticmethod
    def node_entries(
        conn: sqlite3.Connection, node_name: str, code_version: str
    ) -> list[tuple[int, str, str]]:
        """(rowid, cache key, data version) of one node at one code version."""
        return conn.execute(
            "SELECT rowid, cache_key, data_version FROM entries"
            " WHERE node_name = ? AND code_version = ?",
            (node_name, code_version),
        ).fetchall()

    @staticmethod
    def entries_since(conn: sqlite3.Connection, rowid: int) -> list[tuple[int, str, str, str, str]]:
        """(rowid, cache key, node, code version, data version) written after ``rowid``."""
        return conn.execute(
            "SELECT rowid, cache_key, node_name, code_version, data_version FROM entries"
            " WHERE rowid > ?",
            (rowid,),
        ).fetchall()

    @staticmethod
    def last_rowid(conn: sqlite3.Connection) -> int:
        found = conn.execute("SELECT max(rowid) FROM entries").fetchone()[0]
        return int(found or 0)

    @staticmethod
    def results(conn: sqlite3.Connection, versions: Sequence[str]) -> dict[str, ResultRow]:
        found: dict[str, ResultRow] = {}
        for chunk in _chunks(versions):
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(
                "SELECT data_version, format, size, checksum, value, file FROM results"
                f" WHERE data_version IN ({marks})",
                tuple(chunk),
            ):
                found[row[0]] = row
        return found

    @staticmethod
    def run_ids(conn: sqlite3.Connection) -> list[str]:
        return [r[0] for r in conn.execute("SELECT run_id FROM runs ORDER BY started, rowid")]

    @staticmethod
    def run_entries(conn: sqlite3.Connection, run_id: str) -> list[dict[str, Any]]:
        return [
            {"cache_key": k, "data_version": d, "node_name": n, "code_version": c}
            for k, d, n, c in conn.execute(
                "SELECT cache_key, data_version, node_name, code_version FROM entries"
                " WHERE run_id = ? ORDER BY rowid",
                (run_id,),
            )
        ]

    @staticmethod
    def count(conn: sqlite3.Connection, table: str) -> int:
        assert table in ("entries", "results", "runs", "packs", "events")
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    @staticmethod
    def packed_count(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT coalesce(sum(count), 0) FROM packs").fetchone()[0])

    @staticmethod
    def clear(conn: sqlite3.Connection, table: str) -> None:
        assert table in ("entries", "results", "runs", "packs", "events")
        conn.execute(f"DELETE FROM {table}")
