"""The stores: the SQLite file (schema, WAL), Hamilton's store methods, in-memory stores,
and concurrent writers — many runs of one driver, threads with their own loops, and two
processes sharing one cache directory — without corruption or lost entries."""

from __future__ import annotations

import asyncio
import os
import pickle
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from asyncdag import driver
from asyncdag.caching import (
    FileResultStore,
    InMemoryMetadataStore,
    InMemoryResultStore,
    SQLiteMetadataStore,
)
from asyncdag.caching._sqlite import APPLICATION_ID, DB_NAME, SCHEMA
from asyncdag.caching._store import forget_stores
from asyncdag.caching.stores.base import ResultRetrievalError
from asyncdag.execution import executors
from tests.dags_cache import counted

pytestmark = pytest.mark.anyio
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    yield
    forget_stores()


def entries_by_node(path: Path) -> dict[str, int]:
    """Distinct cache keys per node: rows of ``entries`` and keys inside ``packs``."""
    keys: dict[str, set[str]] = {}
    with sqlite3.connect(path / DB_NAME) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        for node, key in conn.execute("SELECT node_name, cache_key FROM entries"):
            keys.setdefault(node, set()).add(key)
        for node, packed in conn.execute("SELECT node_name, keys FROM packs"):
            keys.setdefault(node, set()).update(pickle.loads(packed)[0])
    return {node: len(found) for node, found in keys.items()}


def test_the_database_says_what_it_is_and_runs_in_wal_mode(tmp_path: Path) -> None:
    dr = driver.Builder().with_modules(counted).with_cache(tmp_path).build()
    dr.execute(["total"], inputs={"n": 3, "offset": 0, "log_path": str(tmp_path / "log")})
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA
    assert entries_by_node(tmp_path) == {"item": 1, "square": 3, "shifted": 3, "total": 1}


def test_hamiltons_store_methods(tmp_path: Path) -> None:
    meta = SQLiteMetadataStore(tmp_path)
    meta.initialize("run-1")
    meta.set(cache_key="k1", data_version="v1", run_id="run-1", node_name="a", code_version="c")
    assert meta.get("k1") == "v1" and meta.exists("k1") and len(meta) == 1
    assert meta.get_run_ids() == ["run-1"] and meta.last_run_id == "run-1"
    assert meta.get_run("run-1") == [
        {"cache_key": "k1", "data_version": "v1", "node_name": "a", "code_version": "c"}
    ]
    with pytest.raises(IndexError):
        meta.get_run("nope")
    meta.delete("k1")
    assert meta.get("k1") is None

    results = FileResultStore(tmp_path)
    results.set("v1", {"a": 1})
    results.set("big", b"x" * 200_000)
    assert results.get("v1") == {"a": 1} and results.exists("big")
    assert results.get("nothing") is None
    assert not list((tmp_path / "results").rglob("*.tmp"))
    results.delete("v1")
    assert not results.exists("v1")
    (big_file,) = [p for p in (tmp_path / "results").rglob("*") if p.is_file()]
    big_file.write_bytes(b"x" * 10)
    with pytest.raises(ResultRetrievalError, match="truncated"):
        results.get("big")
    results.delete_all()
    assert not results.exists("big")
    meta.delete_all()
    assert len(meta) == 0


def test_the_stores_pickle_as_their_settings(tmp_path: Path) -> None:
    meta = pickle.loads(pickle.dumps(SQLiteMetadataStore(tmp_path)))
    assert isinstance(meta, SQLiteMetadataStore) and meta.db.directory == str(tmp_path)
    results = pickle.loads(pickle.dumps(FileResultStore(tmp_path, inline_limit=7)))
    assert results.inline_limit == 7 and results.path == tmp_path


def test_in_memory_stores_run_a_driver_and_persist_to_disk(tmp_path: Path) -> None:
    meta, results = InMemoryMetadataStore(), InMemoryResultStore()
    log = str(tmp_path / "log")
    inputs = {"n": 4, "offset": 1, "log_path": log}
    dr = (
        driver.Builder()
        .with_modules(counted)
        .with_cache(metadata_store=meta, result_store=results)
        .build()
    )
    dr.execute(["total"], inputs=inputs)
    dr.execute(["total"], inputs=inputs)
    assert sum(counted.calls(log).values()) == 1 + 4 + 4 + 1
    assert len(meta) == 10
    disk_meta, disk_results = SQLiteMetadataStore(tmp_path / "c"), FileResultStore(tmp_path / "c")
    meta.persist_to(disk_meta)
    results.persist_to(disk_results)
    forget_stores()
    Path(log).unlink()
    dr = driver.Builder().with_modules(counted).with_cache(tmp_path / "c").build()
    assert dr.execute(["total"], inputs=inputs) == {"total": counted.expected_total(4, 1)}
    assert counted.calls(log) == {}
    loaded = InMemoryResultStore.load_from(disk_results, metadata_store=disk_meta)
    assert loaded.exists(meta.get_run(meta.get_run_ids()[0])[0]["data_version"])


async def test_many_concurrent_runs_of_one_driver_lose_nothing(tmp_path: Path) -> None:
    log = str(tmp_path / "log")
    dr = driver.Builder().with_modules(counted).with_cache(tmp_path / "c").build()
    with anyio.fail_after(60):
        results = await asyncio.gather(
            *(
                dr.aexecute(["total"], inputs={"n": 10 + i, "offset": 0, "log_path": log})
                for i in range(40)
            )
        )
    assert [r["total"] for r in results] == [counted.expected_total(10 + i, 0) for i in range(40)]
    stored = entries_by_node(tmp_path / "c")
    assert stored == {"item": 40, "square": 49, "shifted": 49, "total": 40}
    Path(log).unlink()
    forget_stores()
    dr = driver.Builder().with_modules(counted).with_cache(tmp_path / "c").build()
    with anyio.fail_after(60):
        await asyncio.gather(
            *(
                dr.aexecute(["total"], inputs={"n": 10 + i, "offset": 0, "log_path": log})
                for i in range(40)
            )
        )
    assert counted.calls(log) == {}


def test_threads_each_with_their_own_loop_share_one_driver(tmp_path: Path) -> None:
    log = str(tmp_path / "log")
    dr = (
        driver.Builder()
        .with_modules(counted)
        .with_cache(tmp_path / "c")
        .with_remote_executor(executors.MultiThreadingExecutor(max_tasks=4))
        .build()
    )
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            got = dr.execute(["total"], inputs={"n": 30, "offset": i % 3, "log_path": log})
            assert got == {"total": counted.expected_total(30, i % 3)}
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and not any(t.is_alive() for t in threads)
    assert entries_by_node(tmp_path / "c") == {"item": 1, "square": 30, "shifted": 90, "total": 3}


_WRITER = """
import sys
from asyncdag import driver
from tests.dags_cache import counted

path, n, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
dr = driver.Builder().with_modules(counted).with_cache(path).build()
print(dr.execute(["total"], inputs={"n": n, "offset": 5, "log_path": log})["total"])
"""


def test_two_processes_sharing_one_directory(tmp_path: Path) -> None:
    cache_dir = tmp_path / "c"
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(cache_dir), str(n), str(tmp_path / "shared.log")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in (600, 800)
    ]
    for proc, n in zip(procs, (600, 800), strict=True):
        out, err = proc.communicate(timeout=100)
        assert proc.returncode == 0, err
        assert int(out) == counted.expected_total(n, 5)
    assert entries_by_node(cache_dir) == {"item": 2, "square": 800, "shifted": 800, "total": 2}
    log = str(tmp_path / "shared.log")
    ran = counted.calls(log)
    assert sum(ran.values()) >= 2 + 800 + 800 + 2  # shared items may run in both processes
    Path(log).unlink()
    dr = driver.Builder().with_modules(counted).with_cache(cache_dir).build()
    for n in (600, 800):
        dr.execute(["total"], inputs={"n": n, "offset": 5, "log_path": log})
    assert counted.calls(log) == {}


def test_hamiltons_methods_see_results_kept_in_packs(tmp_path: Path) -> None:
    log = str(tmp_path / "log")
    inputs = {"n": 3, "offset": 0, "log_path": log}
    dr = driver.Builder().with_modules(counted).with_cache(tmp_path / "c").build()
    dr.execute(["total"], inputs=inputs)
    meta, results = dr.cache.metadata_store, dr.cache.result_store
    run = meta.get_run(dr.cache.last_run_id)
    assert sorted(e["node_name"] for e in run) == ["item"] + ["shifted"] * 3 + ["square"] * 3 + [
        "total"
    ]
    assert len(meta) == 8
    square = sorted((e for e in run if e["node_name"] == "square"), key=lambda e: e["data_version"])
    assert [results.get(e["data_version"]) for e in square] == [0, 1, 4]  # literals, in packs
    assert meta.get(square[2]["cache_key"]) == square[2]["data_version"]
    meta.delete(square[2]["cache_key"])  # the pack is rewritten without it
    assert meta.get(square[2]["cache_key"]) is None and len(meta) == 7
    Path(log).unlink()
    forget_stores()
    dr = driver.Builder().with_modules(counted).with_cache(tmp_path / "c").build()
    dr.execute(["total"], inputs=inputs)
    assert counted.calls(log) == {"square:2": 1}  # its result, 4, equals the stored one
