"""What the cache records of items in batches (``asyncdag.caching._memo_route``): a run's log
entry for many items, the writer's pack of one node's literals, and the batch of a node's
items kept on the run's loop. Each must record what recording item by item records, in the
order things happened."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from asyncdag import driver
from asyncdag.caching._commit import Batch, forget_failed
from asyncdag.caching._events import CachingEventType, RunLog
from asyncdag.caching._io import WriteOp
from asyncdag.caching._memory import ValueCache
from asyncdag.caching._store import forget_stores
from benchmarks.dags import w1_asyncdag, w1_asyncdag_sync

E = CachingEventType


def _texts(log: RunLog) -> list[tuple[str, str | None, str, Any]]:
    return [(e.node_name, e.task_id, e.event_type.value, e.value) for e in log.events("debug")]


def test_a_log_entry_for_many_items_reads_as_an_event_per_item_in_place() -> None:
    log = RunLog("r", debug=True)
    log.add("a", None, "adapter", E.EXECUTE_NODE)
    log.add_many("f", (3,), [0, 1, 2], "result_store", E.GET_RESULT, "hit", ["i1", "i2", "i3"])
    log.add_many("g", None, [(0, 1), (2, 5)], "adapter", E.EXECUTE_NODE)
    log.add("b", None, "adapter", E.EXECUTE_NODE)
    assert _texts(log) == [
        ("a", None, E.EXECUTE_NODE.value, None),
        ("f", "3/0", E.GET_RESULT.value, "i1"),
        ("f", "3/1", E.GET_RESULT.value, "i2"),
        ("f", "3/2", E.GET_RESULT.value, "i3"),
        ("g", "0/1", E.EXECUTE_NODE.value, None),
        ("g", "2/5", E.EXECUTE_NODE.value, None),
        ("b", None, E.EXECUTE_NODE.value, None),
    ]
    assert len(log) == 7 * 7
    # relayed to another process's log (pickled fields), it reads the same
    relayed = RunLog("r", debug=True)
    relayed.extend_raw(log.take_new())
    assert _texts(relayed) == _texts(log)


def test_a_log_bounds_entries_for_many_items_by_the_events_they_hold() -> None:
    log = RunLog("r", debug=False, limit=10_000)
    for start in range(0, 12_000, 3_000):
        log.add_many("f", (), list(range(start, start + 3_000)), "adapter", E.EXECUTE_NODE)
    log.add("late", None, "adapter", E.EXECUTE_NODE)
    assert log.dropped == 2_001 and len(log) == 10_000 * 7
    tasks = [e.task_id for e in log.events("debug")]
    assert tasks == [str(i) for i in range(10_000)]


def test_a_log_entry_for_many_items_is_no_work_for_the_garbage_collector() -> None:
    log = RunLog("r", debug=False)
    for start in range(0, 40_000, 500):
        log.add_many("f", (), list(range(start, start + 500)), "adapter", E.EXECUTE_NODE)
    for _ in range(3):  # a collection untracks a tuple once the tuples it holds are
        gc.collect()
    # an entry of a batch counts as its events toward a sealed chunk, and holds only
    # strings, numbers and tuples of them: the collector takes the chunks off its books
    assert len(log) == 40_000 * 7 and len(log._events) < 4096 * 7
    assert log._sealed and not any(map(gc.is_tracked, log._sealed))
    assert [e.task_id for e in log.events("debug")] == [str(i) for i in range(40_000)]


def test_what_waits_for_the_log_is_recorded_before_the_next_event_on_its_thread() -> None:
    log = RunLog("r", debug=True)
    log.waiting.append(lambda: log.add_many("f", (), [0, 1], "adapter", E.EXECUTE_NODE))
    log.add("total", None, "adapter", E.EXECUTE_NODE)
    assert [(n, t) for n, t, _, _ in _texts(log)] == [("f", "0"), ("f", "1"), ("total", None)]
    assert not log.waiting


def test_the_writer_groups_a_pack_of_literals_with_the_same_nodes_other_results() -> None:
    keys, versions = [f"k{i}" for i in range(5)], [f"i{i}" for i in range(5)]
    ops: list[Any] = [
        ("k9", "n", "c1", "i9", "r1", b"data"),
        WriteOp("pack", (keys, "n", "c1", versions, "r1")),
        WriteOp("pack", (["x"], "m", "c1", ["s"], "r1")),
    ]
    batch = Batch.of(ops)
    assert set(batch.small) == {("n", "c1", "r1"), ("m", "c1", "r1")}
    pack = batch.small[("n", "c1", "r1")]
    assert pack.keys == ["k9", *keys] and pack.versions == ["i9", *versions]
    assert pack.data_versions == ["i9"] and pack.data == [b"data"]
    # a pack that could not be stored is taken out of the index: those items are misses
    index = {**dict(zip(keys, versions, strict=True)), "k0": "i-other", "kept": "v"}
    assert forget_failed(ops[1:2], index, ValueCache()) == ["n"]
    assert index == {"k0": "i-other", "kept": "v"}


@pytest.mark.parametrize("module", [w1_asyncdag, w1_asyncdag_sync])
def test_items_recorded_in_batches_read_as_recorded_one_by_one(
    tmp_path: Path, module: ModuleType
) -> None:
    n = 300
    dr = driver.Builder().with_modules(module).with_cache(tmp_path).build()
    try:
        assert asyncio.run(dr.aexecute(["total"], inputs={"n": n})) == {"total": n * (n + 1) // 2}
        run = dr.cache.last_run_id
        logs = dr.cache.logs(run_id=run, level="debug")
        executed = [key for key, events in logs.items() if isinstance(key, tuple)]
        assert sorted(executed, key=lambda k: int(k[1])) == [("f", str(i)) for i in range(n)]
        # every item's event comes before the collector's, which ran after them
        order = [
            e.node_name for e in dr.cache._events(run, "debug") if e.event_type is E.EXECUTE_NODE
        ]
        assert order.index("total") > max(i for i, name in enumerate(order) if name == "f")
        assert dr.cache.data_versions[run]["f"] == {str(i): f"i{i + 1}" for i in range(n)}
        assert dr.cache.misses(run)["f"] == n
        dr.cache.flush(30)
    finally:
        dr.close()
    # a new process (the stores forgotten) finds every item's entry on disk
    forget_stores()
    again = driver.Builder().with_modules(module).with_cache(tmp_path).build()
    try:
        assert again.execute(["total"], inputs={"n": n}) == {"total": n * (n + 1) // 2}
        assert again.cache.hits()["total"] == 1
        assert asyncio.run(again.aexecute(["total"], inputs={"n": n + 2}))["total"] == (
            (n + 2) * (n + 3) // 2
        )
        assert again.cache.hits()["f"] == n and again.cache.misses()["f"] == 2
    finally:
        again.close()
