"""The worker side: what runs a payload in a worker process (or a Dask or Ray worker).

A batch's plan travels as bytes that the parent pickles once per block; the worker keeps the
unpickled plan by key, so each item costs only its own values. An all-sync block runs item by
item through ``_blockrun``; any other block runs through the engine (``_engine.execute``) on
this worker's one event loop (uvloop when installed), all items of the batch at once, each
item its own run, so that one item's failure or slowness does not hold the others. Answers
are made by ``_wire``: nothing else pickles engine data.

Node events happen here and are *recorded* (``_blockrun.NodeRecord``) when the parent's hooks
listen, then relayed to the parent with the answer, where the hooks fire.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

import cloudpickle

from asyncdag._calls import CallInfo, RunInfo
from asyncdag.execution import _wire
from asyncdag.execution._blockrun import NodeRecord, run_block
from asyncdag.execution._dispatch import InlineCalls, InLoop
from asyncdag.execution._engine import Placement, execute
from asyncdag.execution._outcome import Outcome, Raised
from asyncdag.execution._plan import BlockPlan
from asyncdag.execution._resources import WORKER_RESOURCES
from asyncdag.execution._threads import ThreadPool
from asyncdag.lifecycle._hooks import HookSet, LifecycleHooks

__all__ = ["CALL", "run_batch", "run_call", "serve"]

#: the payload key of a single sync function call (a node outside blocks on processes)
CALL = "\0call"

_PLANS: dict[str, BlockPlan] = {}
_THREADS = ThreadPool(16, "asyncdag-worker-sync")
#: nested windows inside a worker item
_WINDOW = 256


class _Frame:
    """Stands in for the parent instances: the outer values a block reads, by level."""

    __slots__ = ("expansion", "parent", "values")

    def __init__(self, values: dict[str, Any], parent: _Frame | None) -> None:
        self.values = values
        self.parent = parent
        self.expansion = None


def _frames(externals: dict[tuple[int, str], Any]) -> _Frame | None:
    depth = max((lvl for lvl, _ in externals), default=0)
    frame: _Frame | None = None
    for level in range(depth, 0, -1):
        frame = _Frame({k: v for (lvl, k), v in externals.items() if lvl == level}, frame)
    return frame


class _InWorker:
    """How work runs inside a worker: sync steps inline on its loop, nested items at once."""

    def sync_calls(self, *, private_loop: bool) -> Any:
        return InlineCalls(_THREADS)

    def dispatch(
        self, block: BlockPlan, run: Any, *, private_loop: bool, group_blocks: bool
    ) -> Any:
        return InLoop(None)


_PLACEMENT = Placement(_InWorker(), _InWorker(), private_loop=True)


class _Recorder(LifecycleHooks):
    """Records node events of one worker item for the parent's hooks."""

    def __init__(self, with_inputs: bool) -> None:
        self.records: list[NodeRecord] = []
        self.wants_node_inputs = with_inputs
        self._started: dict[tuple[str, tuple[int, ...]], tuple[float, Any]] = {}

    def run_before_node_execution(self, *, node_name, index, **kw):  # type: ignore[no-untyped-def]
        self._started[(node_name, index)] = (time.time(), kw.get("node_kwargs"))

    def run_after_node_execution(  # type: ignore[no-untyped-def]
        self, *, node_name, index, label, result, error, success, attempts, **kw
    ):
        started, kwargs = self._started.pop((node_name, index), (time.time(), None))
        value = result if success else error
        self.records.append(
            NodeRecord(
                "call",
                node_name,
                index,
                started,
                time.time(),
                success,
                value,
                attempts,
                kwargs,
                label=label,
            )
        )

    def run_before_node_retry(  # type: ignore[no-untyped-def]
        self, *, node_name, index, label, attempt, error, delay, **kw
    ):
        now = time.time()
        self.records.append(
            NodeRecord(
                "retry", node_name, index, now, now, False, error, attempt, None, delay, label
            )
        )


def result_keys(block: BlockPlan) -> list[str]:
    keys = [*block.list_sinks, *(k for k, _, _ in block.stream_sinks)]
    return keys + [k for k in block.emitted if k not in keys]


def run_batch(key: str, plan: bytes, data: bytes) -> bytes:
    """Run a batch of block instances of one expansion; the answer as bytes."""
    try:
        block = _PLANS.get(key)
        if block is None:
            block = _PLANS[key] = cloudpickle.loads(plan)
        batch = _wire.decode_batch(data)
    except Exception as exc:
        return _wire.load_failure(exc)
    started = time.perf_counter()
    records: list[NodeRecord] = []
    events: list[tuple[str, tuple[int, ...], Any]] = []
    if block.all_sync:
        outcomes = _run_sync_items(block, batch, records)
    else:
        outcomes = _loop().run_until_complete(_run_async_items(block, batch, records, events))
    elapsed = time.perf_counter() - started
    return _wire.encode_answer(outcomes, result_keys(block), records, elapsed, events)


def _run_sync_items(
    block: BlockPlan, batch: _wire.Batch, records: list[NodeRecord]
) -> list[tuple[Outcome, dict[str, Any], tuple[int, ...]]]:
    externals = batch.externals

    def lookup(levels: int, key: str) -> Any:
        return externals[(levels, key)]

    run = RunInfo(batch.run_id)
    record = records if batch.records else None

    def on_retry(call: CallInfo, error: BaseException, delay: float) -> None:
        if record is not None:
            now = time.time()
            record.append(
                NodeRecord(
                    "retry",
                    call.node,
                    call.index,
                    now,
                    now,
                    False,
                    error,
                    call.attempt,
                    None,
                    delay,
                    call.label,
                )
            )

    out = []
    for index, values in batch.items:
        outcome = run_block(
            block,
            values,
            lookup,
            index,
            WORKER_RESOURCES,
            run,
            record=record,
            on_retry=on_retry,
            with_inputs=batch.with_inputs,
        )
        out.append((outcome, values, index))
    return out


async def _run_async_items(
    block: BlockPlan,
    batch: _wire.Batch,
    records: list[NodeRecord],
    events: list[tuple[str, tuple[int, ...], Any]],
) -> list[tuple[Outcome, dict[str, Any], tuple[int, ...]]]:
    frame = _frames(batch.externals)

    def collect(event: Any) -> None:  # values of nested blocks, for the parent's astream
        name, index, value, _ = event
        events.append((name, index, value))

    async def one(index: tuple[int, ...], values: dict[str, Any]) -> Outcome:
        recorder = _Recorder(batch.with_inputs) if batch.records else None
        hooks = HookSet([recorder]) if recorder is not None else None
        try:
            outcome = await execute(
                block,
                values,
                _PLACEMENT,
                run_id=batch.run_id,
                window=_WINDOW,
                resources=WORKER_RESOURCES,
                hooks=hooks,
                events=collect if batch.stream else None,
                parent=frame,
                index=index,
                summarize=False,
            )
        except Exception as exc:
            outcome = Raised(exc)
        if recorder is not None:
            records.extend(recorder.records)
        return outcome

    outcomes = await asyncio.gather(*(one(index, values) for index, values in batch.items))
    return [
        (outcome, values, index)
        for outcome, (index, values) in zip(outcomes, batch.items, strict=True)
    ]


def run_call(data: bytes) -> bytes:
    """Call one sync function with its keyword arguments; the answer as bytes."""
    try:
        name, fn, kwargs = _wire.decode_call(data)
    except Exception as exc:
        return _wire.load_failure(exc)
    try:
        return _wire.encode_call_answer(name, True, fn(**kwargs))
    except (Exception, SystemExit) as exc:
        return _wire.encode_call_answer(name, False, exc)


def serve(conn: Connection, lifeline: Connection | None = None) -> None:
    """A worker process's main loop: answer payloads until told to stop, or until the
    parent is gone (``lifeline`` reads EOF: the worker exits at once, even mid-task)."""
    # Ctrl-C reaches the whole process group: the parent handles it (it cancels its runs and
    # recycles workers that are busy with them); a worker must not die of it on its own.
    with contextlib.suppress(ValueError, OSError):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if lifeline is not None:
        threading.Thread(
            target=_watch_parent, args=(lifeline,), name="asyncdag-lifeline", daemon=True
        ).start()
    try:
        while True:
            try:
                message = conn.recv_bytes()
            except (EOFError, OSError):
                break
            if message == _wire.STOP:
                break
            try:
                key, plan, data = cloudpickle.loads(message)
                answer = run_call(data) if key == CALL else run_batch(key, plan, data)
            except BaseException as exc:  # never die silently: report what went wrong
                answer = _wire.crash(exc)
            conn.send_bytes(answer)
    finally:
        WORKER_RESOURCES.close()


def _watch_parent(lifeline: Connection) -> None:
    try:
        lifeline.recv_bytes()
    except (EOFError, OSError):
        pass
    os._exit(PARENT_GONE)


#: the exit code of a worker whose parent died
PARENT_GONE = 70


_LOOP: asyncio.AbstractEventLoop | None = None


def _loop() -> asyncio.AbstractEventLoop:
    """This worker's one event loop (uvloop when installed), for its whole life, so that an
    async per-worker resource (bound to a loop) is built once per worker, not per batch."""
    global _LOOP
    if _LOOP is None:
        try:
            import uvloop

            _LOOP = uvloop.new_event_loop()
        except ImportError:  # pragma: no cover - uvloop is a dependency where it installs
            _LOOP = asyncio.new_event_loop()
        asyncio.set_event_loop(_LOOP)
    return _LOOP
