"""The cache's I/O threads and memory pieces on their own: batching, flush, backpressure,
errors, cancellation, idle exit; the value cache; a run's identity map. Real threads,
synchronised with events (never sleeps)."""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from typing import Any

import anyio
import pytest

from asyncdag.caching._io import BatchThread, Reader, Request, WriteOp, Writer
from asyncdag.caching._memory import ValueCache
from asyncdag.caching._runs import HELD_LIMIT, IDENTITY_LIMIT, RunState

pytestmark = pytest.mark.anyio


class Gate:
    """A handler that records batches and can be held on its first call."""

    def __init__(self, hold: bool = True) -> None:
        self.batches: list[list[Any]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()

    def __call__(self, batch: list[Any]) -> None:
        self.batches.append(list(batch))
        self.entered.set()
        assert self.release.wait(10)


def test_items_submitted_while_a_batch_runs_come_in_the_next_batch_in_order() -> None:
    gate = Gate()
    bt: BatchThread[int] = BatchThread("t", gate, idle=5)
    bt.submit(1)
    assert gate.entered.wait(10)
    for i in (2, 3, 4):
        bt.submit(i)
    bt.submit_many([5, 6])
    gate.release.set()
    assert bt.close(10)
    assert gate.batches == [[1], [2, 3, 4, 5, 6]]


def test_a_batch_holds_at_most_max_batch_items() -> None:
    gate = Gate()
    bt: BatchThread[int] = BatchThread("t", gate, max_batch=2, idle=5)
    bt.submit(0)
    assert gate.entered.wait(10)
    bt.submit_many([1, 2, 3, 4, 5])
    gate.release.set()
    assert bt.close(10)
    assert gate.batches == [[0], [1, 2], [3, 4], [5]]


def test_the_thread_ends_when_idle_and_a_submit_starts_another() -> None:
    gate = Gate(hold=False)
    bt: BatchThread[int] = BatchThread("t", gate, idle=0.01)
    bt.submit(1)
    first = bt._thread
    assert first is not None
    first.join(10)
    assert not first.is_alive() and bt._thread is None
    bt.submit(2)
    second = bt._thread
    assert second is not None and second is not first
    second.join(10)
    assert gate.batches == [[1], [2]]


def test_a_failing_handler_is_logged_and_the_thread_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[int] = []
    first = threading.Event()

    def handle(batch: list[int]) -> None:
        seen.extend(batch)
        if batch == [1]:
            first.set()
            raise RuntimeError("boom")

    bt: BatchThread[int] = BatchThread("t", handle, idle=5)
    with caplog.at_level(logging.ERROR, logger="asyncdag.caching"):
        bt.submit(1)
        assert first.wait(10)
        bt.submit(2)
        assert bt.close(10)
    assert seen == [1, 2]
    assert any("batch failed" in r.getMessage() for r in caplog.records)


async def test_flush_waits_for_every_write_submitted_before_it() -> None:
    gate = Gate()
    committed: list[list[str]] = []

    def commit(ops: list[WriteOp]) -> None:
        gate(ops)
        committed.append([op.payload for op in ops])

    writer = Writer("w", commit, lambda ops, exc: None, idle=5)
    writer.submit(WriteOp("put", "a"))
    assert gate.entered.wait(10)
    writer.submit(WriteOp("put", "b"))
    flushed = writer.flushed(asyncio.get_running_loop())
    await asyncio.sleep(0)
    assert not flushed.done()
    gate.release.set()
    with anyio.fail_after(10):
        await flushed
    assert committed == [["a"], ["b"]]
    writer.close(10)


async def test_a_failed_commit_is_reported_and_flush_still_returns() -> None:
    failures: list[tuple[list[str], str]] = []

    def commit(ops: list[WriteOp]) -> None:
        raise OSError("disk full")

    writer = Writer(
        "w", commit, lambda ops, exc: failures.append(([o.payload for o in ops], str(exc)))
    )
    writer.submit(WriteOp("put", "a"))
    with anyio.fail_after(10):
        await writer.flushed(asyncio.get_running_loop())
    assert failures == [(["a"], "disk full")]
    assert writer.flush(10)
    writer.close(10)


async def test_backpressure_waits_until_the_commits_catch_up() -> None:
    gate = Gate()
    writer = Writer("w", gate, lambda ops, exc: None, max_pending_bytes=10, idle=5)
    writer.submit(WriteOp("put", "first", nbytes=5))
    assert gate.entered.wait(10)
    writer.submit(WriteOp("put", "big", nbytes=20))
    assert writer.full
    room = writer.room(asyncio.get_running_loop())
    blocked = threading.Thread(target=writer.wait_room, args=(10,))
    blocked.start()
    await asyncio.sleep(0)
    assert not room.done() and blocked.is_alive()
    gate.release.set()
    with anyio.fail_after(10):
        await room
    blocked.join(10)
    assert not blocked.is_alive() and not writer.full and writer.pending_bytes == 0
    writer.close(10)


async def test_reads_asked_together_are_answered_in_one_batch() -> None:
    gate = Gate()
    served: list[int] = []

    def serve(batch: list[Request]) -> None:
        gate(batch)
        served.append(len(batch))
        for req in batch:
            req.result = req.payload * 2

    reader = Reader("r", serve, idle=5)
    loop = asyncio.get_running_loop()
    blocker = Request("x", 0, loop)
    reader.submit(blocker)
    assert gate.entered.wait(10)
    requests = [Request("x", i, loop) for i in range(1, 50)]
    for req in requests:
        reader.submit(req)
    threaded = Request("x", 100)
    reader.submit(threaded)
    gate.release.set()
    with anyio.fail_after(10):
        results = await asyncio.gather(*(r.future for r in requests if r.future))
        answer = await asyncio.get_running_loop().run_in_executor(None, threaded.wait, 10)
    assert results == [i * 2 for i in range(1, 50)]
    assert answer == 200
    assert served == [1, 50]
    reader.close(10)


async def test_a_failed_read_batch_answers_every_request_with_the_error() -> None:
    def serve(batch: list[Request]) -> None:
        raise OSError("the disk went away")

    reader = Reader("r", serve)
    req = Request("x", 1, asyncio.get_running_loop())
    reader.submit(req)
    assert req.future is not None
    with anyio.fail_after(10), pytest.raises(OSError, match="went away"):
        await req.future
    reader.close(10)


async def test_a_cancelled_reader_is_left_alone_when_the_answer_comes() -> None:
    gate = Gate()

    def serve(batch: list[Request]) -> None:
        gate(batch)
        for req in batch:
            req.result = "late"

    reader = Reader("r", serve, idle=5)
    loop = asyncio.get_running_loop()
    req = Request("x", 1, loop)
    reader.submit(req)
    assert req.future is not None
    req.future.cancel()
    gate.release.set()
    other = Request("x", 2, loop)
    reader.submit(other)
    assert other.future is not None
    with anyio.fail_after(10):
        assert await other.future == "late"  # delivery went on after the cancelled one
    assert req.future.cancelled()
    reader.close(10)


def test_the_value_cache_drops_the_oldest_past_its_bound() -> None:
    values = ValueCache(max_bytes=1000)
    for i in range(10):
        values.put(f"v{i}", "pickle", bytes(100))
    assert values.nbytes == 1000 and len(values) == 10
    values.put("v10", "pickle", bytes(100))  # over the bound: the oldest go, down to 90%
    assert values.get("v0") is None and values.get("v1") is None
    assert values.get("v2") is not None and values.get("v10") is not None
    assert values.nbytes == 900
    values.put("huge", "pickle", bytes(200))  # over an eighth of the bound: not kept
    assert values.get("huge") is None
    values.discard("v10")
    assert values.get("v10") is None and values.nbytes == 800


def test_a_run_versions_a_value_once_by_identity() -> None:
    state = RunState("r", None)
    value = {"a": [1, 2, 3]}
    first = state.version_of(value)
    value["a"].append(4)  # mutated after it was versioned: the run keeps the first version
    assert state.version_of(value) == first
    assert state.version_of({"a": [1, 2, 3, 4]}) != first
    assert state.version_of(5) == "i5"
    for i in range(IDENTITY_LIMIT + 10):
        state.remember([i], f"v{i}")
    assert len(state._held) <= HELD_LIMIT + 1  # lists are held, but only the last few

    class Big:
        pass

    big = Big()
    state.remember(big, "vbig")
    ref = weakref.ref(big)
    assert state.version_of(big) == "vbig"
    del big  # the run does not keep a produced value alive
    assert ref() is None
