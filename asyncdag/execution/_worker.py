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
import pickle
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
from asyncdag.execution._procpool import CANCELLED_EXIT, widen
from asyncdag.execution._resources import WORKER_RESOURCES
from asyncdag.execution._threads import ThreadPool
from asyncdag.lifecycle._hooks import HookSet, LifecycleHooks

__all__ = ["CALL", "Channel", "arun_batch", "run_batch", "run_call", "serve"]

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

    # The events of expansions nested in this worker's items, for the parent to fire (its
    # own expansion's events it fires itself).

    def _event(self, name: str, kw: dict[str, Any], error: BaseException | None = None) -> None:
        for own in ("run_id", "executor", "error"):  # the parent's run gives its own
            kw.pop(own, None)
        now = time.time()
        self.records.append(
            NodeRecord("hook", name, kw.get("index", ()), now, now, error is None, error, 0, kw)
        )

    def run_before_expansion(self, **kw: Any) -> None:
        self._event("run_before_expansion", kw)

    def run_after_item_yielded(self, **kw: Any) -> None:
        self._event("run_after_item_yielded", kw)

    def run_before_task_execution(self, **kw: Any) -> None:
        self._event("run_before_task_execution", kw)

    def run_after_task_execution(self, **kw: Any) -> None:
        self._event("run_after_task_execution", kw, kw.get("error"))

    def run_after_expansion(self, **kw: Any) -> None:
        self._event("run_after_expansion", kw)

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
    return keys + [k for k in (*block.emitted, *block.feeders) if k not in keys]


Finished = tuple[Outcome, dict[str, Any], tuple[int, ...], list[NodeRecord], list[Any]]


def _load(key: str, plan: bytes, data: bytes) -> tuple[BlockPlan, _wire.Batch]:
    block = _PLANS.get(key)
    if block is None:
        block = _PLANS[key] = cloudpickle.loads(plan)
    return block, _wire.decode_batch(data)


def run_batch(key: str, plan: bytes, data: bytes, run: RunInfo | None = None) -> bytes:
    """Run a batch of block instances of one expansion; the answer as bytes (all items).

    Called on a thread of a worker (a process worker's sync lane, a Dask or Ray worker);
    async blocks run on this process's background loop, all items at once. ``run``: the
    batch's run as the worker knows it (its ``cancelled`` stops a sync batch between nodes).
    """
    try:
        block, batch = _load(key, plan, data)
    except Exception as exc:
        return _wire.load_failure(exc)
    started = time.perf_counter()
    if block.all_sync:
        if run is None:
            run = RunInfo(batch.run_id)
        elif not run.run_id:  # the lane's handle, made before the batch was read
            run.run_id = batch.run_id
        finished = _run_sync_items(block, batch, run)
    else:
        done = asyncio.run_coroutine_threadsafe(_run_async_items(block, batch), _background())
        finished = done.result()
    return _answer(block, finished, time.perf_counter() - started)


async def arun_batch(key: str, plan: bytes, data: bytes) -> bytes:
    """:func:`run_batch` on the running loop (a Ray async actor's): all items at once."""
    try:
        block, batch = _load(key, plan, data)
    except Exception as exc:
        return _wire.load_failure(exc)
    started = time.perf_counter()
    if block.all_sync:
        finished = _run_sync_items(block, batch, RunInfo(batch.run_id))
    else:
        finished = await _run_async_items(block, batch)
    return _answer(block, finished, time.perf_counter() - started)


def _answer(
    block: BlockPlan, finished: list[Finished], elapsed: float, positions: list[int] | None = None
) -> bytes:
    return _wire.encode_answer(
        [(o, values, index) for o, values, index, _, _ in finished],
        result_keys(block),
        [r for *_, records, _ in finished for r in records],
        elapsed,
        [e for *_, events in finished for e in events],
        positions,
    )


def _run_sync_items(block: BlockPlan, batch: _wire.Batch, run: RunInfo) -> list[Finished]:
    externals = batch.externals

    def lookup(levels: int, key: str) -> Any:
        return externals[(levels, key)]

    out: list[Finished] = []
    for index, values in batch.items:
        records: list[NodeRecord] = []
        record = records if batch.records else None

        def on_retry(
            call: CallInfo, error: BaseException, delay: float, record: Any = record
        ) -> None:
            if record is not None:
                now = time.time()
                record.append(
                    NodeRecord(
                        "retry", call.node, call.index, now, now, False, error, call.attempt,
                        None, delay, call.label,
                    )
                )  # fmt: skip

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
        out.append((outcome, values, index, records, []))
    return out


async def _run_item(
    block: BlockPlan, batch: _wire.Batch, frame: _Frame | None, index: tuple[int, ...],
    values: dict[str, Any],
) -> Finished:  # fmt: skip
    """One block instance of a batch, as its own run on this worker's loop."""
    events: list[Any] = []

    def collect(event: Any) -> None:  # values of nested blocks, for the parent's astream
        name, at, value, _ = event
        events.append((name, at, value))

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
    return (outcome, values, index, recorder.records if recorder else [], events)


async def _run_async_items(block: BlockPlan, batch: _wire.Batch) -> list[Finished]:
    frame = _frames(batch.externals)
    return list(
        await asyncio.gather(
            *(_run_item(block, batch, frame, index, values) for index, values in batch.items)
        )
    )


def run_call(data: bytes) -> bytes:
    """Call one sync function with its keyword arguments; the answer as bytes."""
    try:
        name, fn, kwargs = _wire.decode_call(data)
    except Exception as exc:
        return _wire.load_failure(exc)
    try:
        return _wire.encode_call_answer(name, True, fn(**kwargs))
    except (Exception, SystemExit, asyncio.CancelledError) as exc:  # the node's own failure
        return _wire.encode_call_answer(name, False, exc)


def serve(conn: Connection, lifeline: Connection | None = None) -> None:
    """A worker process's main loop: run jobs until told to stop, or until the parent is gone
    (``lifeline`` reads EOF: the worker exits at once, even mid-task)."""
    # Ctrl-C reaches the whole process group: the parent handles it (it cancels its runs and
    # recycles workers that are busy with them); a worker must not die of it on its own.
    with contextlib.suppress(ValueError, OSError):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if lifeline is not None:
        threading.Thread(
            target=_watch_parent, args=(lifeline,), name="asyncdag-lifeline", daemon=True
        ).start()
    widen(conn)
    loop = _loop()
    server = _Server(conn, loop)
    threading.Thread(target=server.read, name="asyncdag-inbox", daemon=True).start()
    try:
        loop.run_forever()
    finally:
        WORKER_RESOURCES.close()


class _Server:
    """A worker process's jobs: who runs each, and how it answers.

    Who owns what: the *inbox* thread reads the pipe and hands each message to the loop. An
    async batch is a task on the loop, its items at once, each answered (a ``part``) as it
    finishes; a sync batch or a call runs on the one *lane* thread, in order, and answers
    once. Cancel: a queued sync job never starts; a running one stops between nodes, and if
    it is all this worker does, the worker exits at once (the parent replaces it); an async
    job's task is cancelled. Every job ends with exactly one ``done`` or ``cancelled``.
    """

    def __init__(self, conn: Connection, loop: asyncio.AbstractEventLoop) -> None:
        self.conn = conn
        self.loop = loop
        self.lock = threading.Lock()
        self.jobs: dict[int, Any] = {}
        self.lane = ThreadPool(1, "asyncdag-worker-lane")
        self.outbox: list[tuple[str, int, Any]] = []  # posted on the loop, sent once a turn

    def read(self) -> None:
        loop = self.loop
        while True:
            try:
                message = self.conn.recv_bytes()
            except (EOFError, OSError):
                break
            if message == _wire.STOP:
                break
            try:
                loop.call_soon_threadsafe(self.handle, message)
            except RuntimeError:
                break
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(loop.stop)

    def send(self, kind: str, job_id: int, body: Any) -> None:
        """Send one message now (from any thread)."""
        data = pickle.dumps((kind, job_id, body))
        with self.lock, contextlib.suppress(OSError, EOFError):
            self.conn.send_bytes(data)

    def post(self, kind: str, job_id: int, body: Any) -> None:
        """Send a message from the loop's thread at the end of this loop turn, in one write
        with every other message posted in it (each write wakes the parent's reader)."""
        self.outbox.append((kind, job_id, body))
        if len(self.outbox) == 1:
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        out, self.outbox = self.outbox, []
        if len(out) == 1:
            self.send(*out[0])
        elif out:
            self.send(_wire.MANY, -1, out)

    def handle(self, message: bytes) -> None:
        kind, job_id, body = pickle.loads(message)
        if kind == _wire.MANY:
            for one in body:
                self._handle(*one)
            return
        self._handle(kind, job_id, body)

    def _handle(self, kind: str, job_id: int, body: Any) -> None:
        if kind == "cancel":
            self.cancel(job_id, may_exit=body)
            return
        try:
            key, plan, data = cloudpickle.loads(body)
            block = None if key == CALL else _load(key, plan, data)[0]
        except BaseException as exc:  # never die silently: report what went wrong
            self.post("done", job_id, _wire.load_failure(exc))
            return
        if block is None or block.all_sync:
            info = RunInfo("")
            call = key == CALL
            job = self.lane.submit(self.loop, self._on_lane, job_id, key, plan, data, info, call)
            self.jobs[job_id] = ("sync", job, info)
            job.future.add_done_callback(lambda f: self._lane_done(job_id, f))
        else:
            task = self.loop.create_task(self._stream(job_id, block, data))
            self.jobs[job_id] = ("async", task, None)
            task.add_done_callback(lambda t: self._stream_done(job_id, t))

    def _stream_done(self, job_id: int, task: asyncio.Task[None]) -> None:
        # answered here, not in the coroutine: a task cancelled before it first ran never
        # enters its body, and the parent waits for this answer
        self.jobs.pop(job_id, None)
        if task.cancelled():
            self.post("cancelled", job_id, None)

    def _on_lane(
        self, job_id: int, key: str, plan: bytes, data: bytes, info: RunInfo, call: bool
    ) -> None:
        self.send("started", job_id, None)
        try:
            answer = run_call(data) if call else run_batch(key, plan, data, info)
        except asyncio.CancelledError:
            self.send("cancelled", job_id, None)
            return
        except BaseException as exc:
            answer = _wire.crash(exc)
        self.send("done", job_id, answer)

    def _lane_done(self, job_id: int, fut: asyncio.Future[Any]) -> None:
        self.jobs.pop(job_id, None)
        if fut.cancelled():  # cancelled before the lane took it: it never ran
            self.send("cancelled", job_id, None)
        else:
            fut.exception()  # retrieved (the lane answers its own failures)

    async def _stream(self, job_id: int, block: BlockPlan, data: bytes) -> None:
        started = time.perf_counter()
        try:
            batch = _wire.decode_batch(data)
            frame = _frames(batch.externals)
            items = list(enumerate(batch.items))
            ready: list[tuple[int, Finished]] = []
            left = len(items)

            def flush() -> None:
                if ready:
                    part = list(ready)
                    ready.clear()
                    self.post("part", job_id, _answer(
                        block, [f for _, f in part], 0.0, [p for p, _ in part]
                    ))  # fmt: skip

            async def one(position: int, index: tuple[int, ...], values: dict[str, Any]) -> None:
                nonlocal left
                ready.append((position, await _run_item(block, batch, frame, index, values)))
                left -= 1
                if left and len(ready) == 1:  # one part per loop turn, whatever finished in it
                    self.loop.call_soon(flush)

            await asyncio.gather(*(one(p, index, values) for p, (index, values) in items))
            # the items that finished last travel with the job's end, in one answer
            last = list(ready)
            ready.clear()
            self.post("done", job_id, _answer(
                block, [f for _, f in last], time.perf_counter() - started, [p for p, _ in last]
            ))  # fmt: skip
        except asyncio.CancelledError:
            raise  # answered by _stream_done
        except BaseException as exc:
            self.post("done", job_id, _wire.crash(exc))

    def cancel(self, job_id: int, may_exit: bool) -> None:
        found = self.jobs.get(job_id)
        if found is None:
            return  # over already: its answer is on its way
        kind, job, info = found
        if kind == "async":
            job.cancel()
            return
        if not job.started:
            job.future.cancel()  # the lane skips it; _lane_done answers "cancelled"
            return
        info.cancelled = True  # stops between nodes
        if may_exit:
            # a sync item in user code, and the parent sends this worker nothing else: give
            # the worker back at once (the parent replaces it)
            os._exit(CANCELLED_EXIT)


class Channel:
    """A worker's jobs served over calls instead of a pipe (a Ray async actor's methods):
    the same :class:`_Server`, on the running loop. :meth:`put` hands it a message from the
    parent; :meth:`take` waits for answers and returns every one there is, no sooner than
    ``interval`` seconds after the last take returned, so that a busy worker answers in a few
    calls a second, each carrying many items, not one call an item."""

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float) -> None:
        self._loop = loop
        self._thread = threading.get_ident()
        self._interval = interval
        self._out: list[bytes] = []
        self._ready = asyncio.Event()
        self._last = 0.0
        self.server = _Server(self, loop)  # type: ignore[arg-type]

    def send_bytes(self, data: bytes) -> None:  # the server's sends, from any thread
        if threading.get_ident() == self._thread:
            self._add(data)
        else:
            self._loop.call_soon_threadsafe(self._add, data)

    def _add(self, data: bytes) -> None:
        self._out.append(data)
        self._ready.set()

    def put(self, message: bytes) -> None:
        self.server.handle(message)

    async def take(self) -> list[bytes]:
        pause = self._last + self._interval - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)
        await self._ready.wait()
        out, self._out = self._out, []
        self._ready.clear()
        self._last = time.monotonic()
        return out


_BACKGROUND: asyncio.AbstractEventLoop | None = None
_BACKGROUND_LOCK = threading.Lock()


def _background() -> asyncio.AbstractEventLoop:
    """This process's loop for async batches called from threads (Dask, Ray tasks), on a
    daemon thread of its own, for the life of the process."""
    global _BACKGROUND
    with _BACKGROUND_LOCK:
        if _BACKGROUND is None:
            loop = _new_loop()
            threading.Thread(target=loop.run_forever, name="asyncdag-loop", daemon=True).start()
            _BACKGROUND = loop
        return _BACKGROUND


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
        _LOOP = _new_loop()
        asyncio.set_event_loop(_LOOP)
    return _LOOP


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a dependency where it installs
        return asyncio.new_event_loop()
