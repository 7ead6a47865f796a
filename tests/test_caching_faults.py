"""A broken cache is a miss with a warning naming the node, never a wrong result or a failed
run: truncated, corrupted and missing result files, a corrupted row, a result that cannot be
read back, a database of another asyncdag version or no database at all, values that cannot
be pickled. Real files under ``tmp_path``, damaged the way a crash or a disk would."""

from __future__ import annotations

import logging
import pickle
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from asyncdag import driver
from asyncdag.caching import FileResultStore
from asyncdag.caching._fingerprint import digest
from asyncdag.caching._sqlite import APPLICATION_ID, DB_NAME
from asyncdag.caching._store import forget_stores
from asyncdag.errors import NodeExecutionError
from tests.dags_cache import faulty, shapes
from tests.dags_cache.faulty import CALLS


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    CALLS.clear()
    yield
    forget_stores()


def run(path: Path, outputs: list[str], **options: Any) -> dict[str, Any]:
    forget_stores()  # each run as a new process: nothing in memory
    dr = driver.Builder().with_modules(faulty).with_cache(path, **options).build()
    return dr.execute(outputs, inputs={"x": 7})


def ran() -> list[str]:
    found = sorted(CALLS)
    CALLS.clear()
    return found


def result_files(path: Path) -> list[Path]:
    return [p for p in (path / "results").rglob("*") if p.is_file()]


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "asyncdag.caching" and r.levelno == logging.WARNING
    ]


@pytest.mark.parametrize("damage", ["truncate", "corrupt", "delete"])
def test_a_damaged_result_file_is_a_miss_then_repaired(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    first = run(tmp_path, ["after_big"])
    assert ran() == ["after_big", "big"]
    (file,) = result_files(tmp_path)
    data = file.read_bytes()
    if damage == "truncate":
        file.write_bytes(data[: len(data) // 2])
    elif damage == "corrupt":
        file.write_bytes(data[:100] + bytes([data[100] ^ 0xFF]) + data[101:])
    else:
        file.unlink()
    with caplog.at_level(logging.WARNING, logger="asyncdag.caching"):
        assert run(tmp_path, ["big", "after_big"]) == {**first, "big": bytes([7]) * 300_000}
    assert ran() == ["big"]  # after_big's key holds: its input is equal
    (message,) = warnings(caplog)
    assert "node 'big'" in message
    assert {"truncate": "truncated", "corrupt": "corrupted", "delete": "missing"}[damage] in message
    run(tmp_path, ["big", "after_big"])
    assert ran() == []  # the new result replaced the broken one


def test_a_damaged_pack_in_the_database_is_a_miss(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run(tmp_path, ["small"])
    ran()
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        assert conn.execute("UPDATE packs SET data = x'0102'").rowcount == 1
    with caplog.at_level(logging.WARNING, logger="asyncdag.caching"):
        assert run(tmp_path, ["small"]) == {"small": [8]}
    assert ran() == ["small"]
    assert any("node 'small'" in w and "truncated" in w for w in warnings(caplog))
    run(tmp_path, ["small"])
    assert ran() == []  # the damaged pack was dropped, the new result stored


def test_a_result_that_cannot_be_read_back_is_a_miss(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run(tmp_path, ["small"])
    ran()
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        ((keys,),) = conn.execute("SELECT keys FROM packs").fetchall()
        (_,), (version,) = pickle.loads(keys)
        blob = pickle.dumps(([version], [b"not a pickle at all"]))
        conn.execute(
            "UPDATE packs SET data = ?, size = ?, checksum = ?", (blob, len(blob), digest(blob))
        )
    with caplog.at_level(logging.WARNING, logger="asyncdag.caching"):
        assert run(tmp_path, ["small"]) == {"small": [8]}
    assert ran() == ["small"]
    assert any("node 'small'" in w and "cannot be read back" in w for w in warnings(caplog))


@pytest.mark.parametrize("kind", ["other_version", "not_ours", "not_sqlite"])
def test_a_database_that_is_not_this_versions_is_left_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    db = tmp_path / DB_NAME
    if kind == "other_version":
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE entries (k TEXT)")
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute("PRAGMA user_version = 99")
    elif kind == "not_ours":  # e.g. another tool's database under the same name
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE history (id INTEGER PRIMARY KEY, cache_key TEXT)")
    else:
        db.write_bytes(b"this is not a database" * 100)
    before = db.read_bytes()
    for _ in range(2):
        with caplog.at_level(logging.WARNING, logger="asyncdag.caching"):
            assert run(tmp_path, ["after_big", "small"]) == {"after_big": 300_000, "small": [8]}
        assert ran() == ["after_big", "big", "small"]
    text = " ".join(warnings(caplog))
    assert "node 'small'" in text and "cache miss" in text
    expected = {
        "other_version": "another asyncdag version",
        "not_ours": "not an asyncdag cache",
        "not_sqlite": "not a usable SQLite database",
    }[kind]
    assert expected in text
    assert db.read_bytes() == before  # never written to
    assert not result_files(tmp_path)


def test_a_value_that_cannot_be_pickled_is_not_cached_but_its_dependents_are(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="asyncdag.caching"):
        assert run(tmp_path, ["after_odd"]) == {"after_odd": 14}
    assert ran() == ["after_odd", "odd"]
    assert any("node 'odd'" in w and "cannot be stored" in w for w in warnings(caplog))
    assert run(tmp_path, ["after_odd"]) == {"after_odd": 14}
    assert ran() == ["odd"]  # odd's data version is known, so after_odd hits


def test_a_value_that_cannot_be_versioned_makes_its_dependents_run(tmp_path: Path) -> None:
    assert run(tmp_path, ["after_lock"]) == {"after_lock": 7}
    assert run(tmp_path, ["after_lock"]) == {"after_lock": 7}
    assert ran() == ["after_lock", "after_lock", "lock", "lock"]


def test_results_live_in_files_when_the_store_says_so(tmp_path: Path) -> None:
    store = FileResultStore(tmp_path, inline_limit=0)
    run(tmp_path, ["small"], result_store=store)
    assert len(result_files(tmp_path)) == 1
    assert run(tmp_path, ["small"], result_store=FileResultStore(tmp_path, inline_limit=0)) == {
        "small": [8]
    }
    assert ran() == ["small"]


def test_shapes_module_still_runs_with_a_broken_database(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).write_bytes(b"\0" * 4096)
    forget_stores()
    dr = driver.Builder().with_modules(shapes).with_cache(tmp_path).build()
    assert dr.execute(["lengths"], inputs={"text": "a bb"}) == {"lengths": [1, 2]}


def test_a_failure_outside_blocks_is_not_kept_though_the_node_has_a_policy(
    tmp_path: Path,
) -> None:
    # outside a block ``on_error`` changes nothing: the run fails, and once the cause is
    # gone the node must run again (only a block's items keep their failures as data)
    from tests.dags_cache import outside_policy as flow

    flow.CALLS.clear()
    flow.FAIL_FOR.clear()
    flow.FAIL_FOR.update({3, 101})

    def build() -> Any:
        forget_stores()  # as a new process would find the directory
        return driver.Builder().with_modules(flow).with_cache(tmp_path).build()

    with pytest.raises(NodeExecutionError, match="'flaky'"):
        build().execute(["total"], inputs={"x": 3})
    assert flow.CALLS == [3]
    flow.FAIL_FOR.discard(3)  # the backend is back
    assert build().execute(["total"], inputs={"x": 3}) == {"total": 0 + 2 + 3}
    assert flow.CALLS[1] == 3 and sorted(flow.CALLS[2:]) == [100, 101, 102, 103]
    flow.FAIL_FOR.clear()  # the item's failure was data, kept: it is replayed, not rerun
    flow.CALLS.clear()
    assert build().execute(["total"], inputs={"x": 3}) == {"total": 0 + 2 + 3}
    assert flow.CALLS == []
