"""The cache's per-call shortcuts on their own: each must give what the general path gives.

Short keys (one small-primitive dependency), a ``Collect`` list of ints versioned in one go,
the writer's grouping of a batch of small results, CRC-32 checksums next to older digests,
and a run's log kept in flat, sealed chunks.
"""

from __future__ import annotations

import gc
import threading
from pathlib import Path
from types import ModuleType

import pytest

from asyncdag import driver
from asyncdag.caching._behavior import CachingBehavior
from asyncdag.caching._commit import Batch, unpack_keys, unpack_values
from asyncdag.caching._events import CachingEventType, RunLog
from asyncdag.caching._fingerprint import (
    checksum,
    checksum_ok,
    data_version,
    digest,
    sequence_version,
)
from asyncdag.caching._io import WriteOp
from asyncdag.caching._spec import NodeSpec, Role, _collect_version
from asyncdag.caching._store import open_store
from asyncdag.caching._stores import FileResultStore, SQLiteMetadataStore
from asyncdag.caching.cache_key import create_cache_key
from benchmarks.dags import w1_asyncdag, w1_asyncdag_sync


def _spec(tmp_path: Path, deps: tuple[tuple[str, Role], ...]) -> NodeSpec:
    store = open_store(SQLiteMetadataStore(tmp_path), FileResultStore(tmp_path), authoritative=True)
    return NodeSpec(
        name="n",
        code="c1",
        behavior=CachingBehavior.DEFAULT,
        deps=deps,
        fmt="pickle",
        store=store,
        uid=10_000,
        in_block=False,
        cache_failures=False,
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"a": 1},
        {"a": "url"},
        {"a": None},
        {"a": 2.5},
        {"a": b"xy"},
        {"a": "x" * 100},  # hashed version: a digest key
        {"a": [1, 2]},
        {},  # the optional input not given
    ],
)
def test_a_call_with_one_dependency_has_the_key_create_cache_key_gives(
    tmp_path: Path, kwargs: dict[str, object]
) -> None:
    spec = _spec(tmp_path, (("a", Role.VALUE), ("client", Role.IGNORE)))
    versions = {name: data_version(value) for name, value in kwargs.items()}
    assert spec.key({**kwargs, "client": object()}, None) == create_cache_key("n", "c1", versions)


def test_short_keys_tell_apart_what_digest_keys_do(tmp_path: Path) -> None:
    spec = _spec(tmp_path, (("a", Role.VALUE), ("b", Role.VALUE)))
    keys = [
        spec.key({"a": 1}, None),
        spec.key({"b": 1}, None),  # the other optional input, same value
        spec.key({"a": True}, None),
        spec.key({"a": "1"}, None),
        spec.key({"a": 1, "b": 1}, None),
        spec.key({}, None),
    ]
    assert len(set(keys)) == len(keys)
    other_node = create_cache_key("m", "c1", {"a": "i1"})
    other_code = create_cache_key("n", "c2", {"a": "i1"})
    assert keys[0] not in (other_node, other_code)
    assert len(keys[4] or "") == 32 and len(keys[0] or "") > 32


@pytest.mark.parametrize(
    "values",
    [[1, 2, 3], [0], [-(10**29), 10**29], [10**31, 1], [True, 1], [1, 2.0], [1, "1"], []],
)
def test_a_collected_list_of_ints_has_the_version_item_by_item(values: list[object]) -> None:
    assert _collect_version(values, data_version) == sequence_version(
        [data_version(x) for x in values]
    )


def test_a_batch_of_one_nodes_small_results_groups_as_item_by_item() -> None:
    node, code, run = "n", "c1", "r1"
    ops: list[WriteOp | tuple[object, ...]] = [
        (f"k{i}", node, code, f"i{i}", run, b"" if i % 3 else b"data%d" % i) for i in range(50)
    ]
    fast = Batch.of(ops)
    mixed = Batch.of([*ops, WriteOp("run", ("r1", 0.0))])  # not all tuples: item by item
    assert list(fast.small) == list(mixed.small) == [(node, code, run)]
    a, b = fast.small[(node, code, run)], mixed.small[(node, code, run)]
    assert (a.keys, a.versions, a.data_versions, a.data) == (
        b.keys,
        b.versions,
        b.data_versions,
        b.data,
    )
    assert a.data_versions == [f"i{i}" for i in range(0, 50, 3)]
    two_runs = Batch.of([*ops, ("k", node, code, "i0", "r2", b"")])
    assert set(two_runs.small) == {(node, code, "r1"), (node, code, "r2")}
    two_codes = Batch.of([*ops, ("k", node, "c2", "i0", run, b"")])
    assert set(two_codes.small) == {(node, code, run), (node, "c2", run)}
    # a pack's row (pickled without a memo) reads back as it was
    row = a.row(node, code, run)
    assert unpack_keys(row[4]) == (a.keys, a.versions)
    assert unpack_values(row[5]) == dict(zip(a.data_versions, a.data, strict=True))


def test_checksums_catch_changed_bytes_and_older_digests_still_check() -> None:
    data = b"some result bytes" * 100
    assert checksum_ok(data, checksum(data))
    assert not checksum_ok(data[:-1], checksum(data))
    assert not checksum_ok(data[:-1] + b"X", checksum(data))
    assert checksum_ok(data, digest(data))  # as entries written before CRC-32 carry
    assert not checksum_ok(data + b"!", digest(data))


def test_a_run_log_keeps_each_event_whole_when_threads_add_at_once() -> None:
    log = RunLog("r", debug=True)
    barrier = threading.Barrier(4)
    first: list[object] = []

    def add(worker: int) -> None:
        barrier.wait()
        for i in range(3000):  # 12,000 events in all: the log seals chunks meanwhile
            log.add(f"n{worker}", (worker, i), "adapter", CachingEventType.EXECUTE_NODE, None, i)
            if worker == 0 and i == 1500:
                first.extend(log.take_new())  # a worker relays while the others add

    threads = [threading.Thread(target=add, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    events = list(log.events("debug"))
    assert len(events) == 12_000 and len(log._sealed) >= 2
    for e in events:
        worker, i = (int(x) for x in (e.task_id or "").split("/"))
        assert e.node_name == f"n{worker}" and e.value == i
        assert e.event_type is CachingEventType.EXECUTE_NODE
    relayed = RunLog("r", debug=True)
    relayed.extend_raw(first)
    relayed.extend_raw(log.take_new())
    assert [str(e) for e in relayed.events("debug")] == [str(e) for e in events]
    assert not log.pending


def test_a_run_log_seals_its_events_where_the_garbage_collector_skips_them() -> None:
    log = RunLog("r", debug=False, limit=10_000)
    for i in range(12_000):
        log.add("f", (i,), "adapter", CachingEventType.EXECUTE_NODE)
    assert log.dropped == 2_000 and len(log) == 10_000 * 7  # bounded by ``limit``
    gc.collect()
    gc.collect()  # the first collection may see a chunk before the item tuples it holds
    assert log._sealed and not any(map(gc.is_tracked, log._sealed))
    assert len(log._events) < 4096 * 7  # the open list holds one chunk at most
    tasks = [e.task_id for e in log.events("debug")]
    assert tasks == [str(i) for i in range(10_000)]  # in order, across the chunks


@pytest.mark.parametrize("module", [w1_asyncdag_sync, w1_asyncdag])
def test_a_block_keyed_by_its_int_items_hits_item_by_item(
    tmp_path: Path, module: ModuleType
) -> None:
    dr = driver.Builder().with_modules(module).with_cache(tmp_path).build()
    assert dr.execute(["total"], inputs={"n": 50}) == {"total": 1275}
    assert dr.cache.misses()["f"] == 50
    dr.cache.flush(10)
    assert dr.execute(["total"], inputs={"n": 50}) == {"total": 1275}
    assert dr.cache.hits()["f"] == 50 and not dr.cache.misses()
    assert dr.execute(["total"], inputs={"n": 51}) == {"total": 1326}
    assert dr.cache.misses() == {"item": 1, "f": 1, "total": 1}  # only the new item runs
    versions = dr.cache.data_versions[dr.cache.last_run_id]["f"]
    assert versions["50"] == "i51" and len(versions) == 51
