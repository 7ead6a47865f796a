"""What the writer thread does with a batch of writes: group them, and commit them at once.

``Batch.of(ops)`` sorts a batch by kind; the small results of each node (and run) become one
*pack*. ``write_builtin`` commits a batch to the cache database in one transaction (result
files first, written before the rows that name them), trying again while another process
holds the database past its busy timeout; ``write_generic`` goes through the methods of
stores of any other kind, results before the entries that name them. ``forget_failed``
takes the entries of a batch that could not be stored out of memory, so they are misses
rather than hits on results that do not exist.
"""

from __future__ import annotations

import io
import pickle
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, cast

from asyncdag.caching._fingerprint import checksum
from asyncdag.caching._io import Op, WriteOp
from asyncdag.caching._memory import ValueCache
from asyncdag.caching._sqlite import Database, EntryRow, PackRow
from asyncdag.caching._stores import FileResultStore, Prepared
from asyncdag.caching._stores_base import MetadataStore, ResultStore

__all__ = [
    "Batch",
    "Pack",
    "PutEntry",
    "forget_failed",
    "unpack_keys",
    "unpack_values",
    "write_builtin",
    "write_generic",
]

_BUSY_RETRIES = 5
# the fields of a small result's op: (key, node, code, version, run_id, data)
_KEY, _VERSION, _DATA = itemgetter(0), itemgetter(3), itemgetter(5)
_NODE, _CODE, _RUN = itemgetter(1), itemgetter(2), itemgetter(4)


def _dumps_flat(obj: Any) -> bytes:
    """``pickle.dumps(obj, protocol=5)`` without the memo, for flat lists of strings and
    bytes: the memo, a table entry per string, costs half the time (64-70 against 34 ns an
    item of a pack, keys and versions) and finds nothing to share. ``pickle.loads`` reads
    it as usual."""
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=5)
    pickler.fast = True  # no memo: a recursive object would fail, these are flat
    pickler.dump(obj)
    return out.getvalue()


@dataclass
class PutEntry:
    """An entry and, when the result is not stored yet, its encoded result."""

    row: EntryRow
    result: Prepared | None
    value: Any = None  # the result itself, for a result store of another kind


class Pack:
    """The small results of one node queued in one write batch."""

    __slots__ = ("data", "data_versions", "keys", "versions")

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.versions: list[str] = []
        self.data_versions: list[str] = []  # the results that have bytes (not literals)
        self.data: list[bytes] = []

    def row(self, node: str, code: str, run_id: str | None) -> PackRow:
        keys = _dumps_flat((self.keys, self.versions))
        data = _dumps_flat((self.data_versions, self.data))
        return (node, code, run_id, len(self.keys), keys, data, len(data), checksum(data))


def unpack_keys(blob: bytes) -> tuple[list[str], list[str]]:
    """A pack's keys and their data versions, in order."""
    keys, versions = pickle.loads(blob)
    return list(keys), list(versions)


def unpack_values(blob: bytes) -> dict[str, bytes]:
    """A pack's results by data version (literal versions have no bytes)."""
    versions, data = pickle.loads(blob)
    return dict(zip(versions, data, strict=True))


@dataclass
class Batch:
    """A batch of writes, by kind."""

    entries: list[EntryRow] = field(default_factory=list)
    results: list[Prepared] = field(default_factory=list)
    objects: list[tuple[str, Any]] = field(default_factory=list)
    runs: list[tuple[str, float]] = field(default_factory=list)
    events: list[tuple[str, bytes]] = field(default_factory=list)
    forget_keys: list[str] = field(default_factory=list)
    forget_versions: list[str] = field(default_factory=list)
    forget_packs: list[int] = field(default_factory=list)
    small: dict[tuple[str, str, str | None], Pack] = field(default_factory=dict)

    @classmethod
    def of(cls, ops: Sequence[Op]) -> Batch:
        batch = cls()
        small = batch.small
        if ops and set(map(type, ops)) == {tuple}:
            rows = cast("list[tuple[Any, ...]]", ops)
            # (a set per field: a set of (node, code, run) tuples made a tuple per row)
            if (
                len(set(map(_NODE, rows)))
                == len(set(map(_CODE, rows)))
                == 1
                == len(set(map(_RUN, rows)))
            ):  # the common batch: one node's results of one run, in C loops
                first = rows[0]
                pack = small[(first[1], first[2], first[4])] = Pack()
                pack.keys = list(map(_KEY, rows))
                pack.versions = list(map(_VERSION, rows))
                if any(map(_DATA, rows)):
                    kept = [row for row in rows if row[5]]
                    pack.data_versions = list(map(_VERSION, kept))
                    pack.data = list(map(_DATA, kept))
                return batch
        # a batch holds long runs of one node's results (of one run): its pack is found
        # again only when the node or the run changes (the same string objects, as a node's
        # wrapper and its run's state pass them)
        node = code = run_id = None
        pack = Pack()
        for op in ops:
            if type(op) is tuple:  # a small result (Store.put_small)
                if op[1] is not node or op[4] is not run_id or op[2] is not code:
                    _, node, code, _, run_id, _ = op
                    group = (node, code, run_id)
                    found = small.get(group)
                    if found is None:
                        found = small[group] = Pack()
                    pack = found
                pack.keys.append(op[0])
                pack.versions.append(op[3])
                if op[5]:
                    pack.data_versions.append(op[3])
                    pack.data.append(op[5])
                continue
            assert isinstance(op, WriteOp)
            kind, payload = op.kind, op.payload
            if kind == "put":
                batch.entries.append(payload.row)
                if payload.result is not None:
                    batch.results.append(payload.result)
                elif payload.value is not None:
                    batch.objects.append((payload.row[3], payload.value))
            elif kind == "pack":  # literals of one node (Store.put_pack)
                keys, node_name, code_version, versions, run = payload
                group = (node_name, code_version, run)
                found = small.get(group)
                if found is None:
                    found = small[group] = Pack()
                found.keys.extend(keys)
                found.versions.extend(versions)
            elif kind == "result":
                batch.results.append(payload)
            elif kind == "run":
                batch.runs.append(payload)
            elif kind == "events":
                batch.events.append((payload[0], pickle.dumps(payload[1], protocol=5)))
            elif kind == "log":
                path, lines = payload
                with open(path, "a", encoding="utf-8") as f:
                    f.write(lines)
            elif kind == "forget":
                batch.forget_keys.append(payload[0])
                if payload[1] is not None:
                    batch.forget_versions.append(payload[1])
                if payload[2] is not None:
                    batch.forget_packs.append(payload[2])
        return batch


def write_builtin(
    batch: Batch, db: Database, results: FileResultStore
) -> list[tuple[int, list[str]]]:
    """Commit ``batch`` to the cache database; (pack id, its keys) of the packs written that
    hold results' bytes."""
    conn = db.local()
    groups = list(batch.small.items())
    packs = [pack.row(*group) for group, pack in groups]
    for attempt in range(_BUSY_RETRIES):
        try:
            with db.transaction(conn):
                if batch.forget_keys:
                    Database.delete_entries(conn, batch.forget_keys)
                if batch.forget_versions:
                    results.delete_rows(conn, batch.forget_versions)
                if batch.forget_packs:
                    Database.delete_packs(conn, batch.forget_packs)
                pack_ids = Database.put_packs(conn, packs) if packs else []
                if batch.results:
                    results.write(conn, batch.results)
                if batch.runs:
                    Database.put_runs(conn, batch.runs)
                if batch.entries:
                    Database.put_entries(conn, batch.entries)
                if batch.events:
                    Database.put_events(conn, batch.events)
            # a pack of literals only holds no bytes to read back: nobody asks which it is
            return [
                (pid, pack.keys)
                for pid, (_, pack) in zip(pack_ids, groups, strict=True)
                if pack.data
            ]
        except Exception as exc:  # "database is locked" past busy_timeout: try again
            if "locked" not in str(exc) or attempt == _BUSY_RETRIES - 1:
                raise
            time.sleep(0.05 * 2**attempt)
    return []


def write_generic(batch: Batch, metadata: MetadataStore, results: ResultStore) -> None:
    """Commit ``batch`` through the stores' own methods: results first, so that an entry
    never names a result not stored yet."""
    entries = list(batch.entries)
    for (node, code, run_id), pack in batch.small.items():
        stored = dict(zip(pack.data_versions, pack.data, strict=True))
        for key, version in zip(pack.keys, pack.versions, strict=True):
            if version in stored:
                results.set(version, pickle.loads(stored[version]))
            entries.append((key, node, code, version, run_id))
    if batch.forget_keys:
        metadata.delete_many(batch.forget_keys)
    for version in batch.forget_versions:
        results.delete(version)
    for prepared in batch.results:
        results.set(prepared.data_version, pickle.loads(prepared.data))
    for version, value in batch.objects:
        results.set(version, value)
    if batch.runs:
        metadata.initialize_many(batch.runs)
    if entries:
        metadata.set_many(entries)


def forget_failed(ops: Sequence[Op], index: dict[str, str], values: ValueCache) -> list[str]:
    """Take what a failed batch would have stored out of memory; the nodes it concerned."""
    nodes: set[str] = set()
    for op in ops:
        if isinstance(op, tuple):
            key, node, _, version, _, _ = op
        elif isinstance(op, WriteOp) and op.kind == "put":
            key, node, _, version, _ = op.payload.row
        elif isinstance(op, WriteOp) and op.kind == "pack":
            keys, node, _, versions, _ = op.payload
            nodes.add(node)
            for key, version in zip(keys, versions, strict=True):
                if index.get(key) == version:
                    del index[key]
            continue
        else:
            if isinstance(op, WriteOp) and op.kind == "result":
                values.discard(op.payload.data_version)
            continue
        nodes.add(node)
        if index.get(key) == version:
            del index[key]
        values.discard(version)
    return sorted(nodes)
