"""What runs inside a worker process: one block instance from a cloudpickle payload.

The block's plan travels as bytes that the parent pickles once per block; the worker keeps
the unpickled plan by key, so each item costs only its own values. An all-sync block runs
directly; a block with async nodes or nested expanders runs on an event loop of the worker's
own (uvloop when installed), with inner items processed one at a time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import cloudpickle

from asyncdag.errors import NodeExecutionError, SerializationError, WorkerDiedError
from asyncdag.execution._fanout import FAILED_KEY
from asyncdag.execution._plan import BlockPlan
from asyncdag.execution._resources import WORKER_RESOURCES
from asyncdag.execution._scheduler import Event, Instance, Run, run_item_sync
from asyncdag.htypes import ItemFailure

__all__ = ["decode_batch", "run_batch", "serve"]

_PLANS: dict[str, BlockPlan] = {}


class _Frame:
    """Stands in for the parent instances: the outer values a block reads, by level."""

    __slots__ = ("parent", "values")

    def __init__(self, values: dict[str, Any], parent: _Frame | None) -> None:
        self.values = values
        self.parent = parent


def result_keys(block: BlockPlan) -> list[str]:
    return [*block.list_sinks, *(k for k, _, _ in block.stream_sinks)]


def run_batch(key: str, plan: bytes, data: bytes) -> bytes:
    """Run a batch of block instances of one expansion; the answer as bytes.

    ``data`` holds the outer values the block reads (the same for every item of the batch)
    and each item's ``(values, index)``. Items run in order; the first failure ends the batch.
    """
    try:
        block = _PLANS.get(key)
        if block is None:
            block = _PLANS[key] = cloudpickle.loads(plan)
        externals, items, want_events = cloudpickle.loads(data)
    except Exception as exc:
        return cloudpickle.dumps(("load", f"{type(exc).__name__}: {exc}"))  # type: ignore[no-any-return]
    keys = result_keys(block)
    events: list[tuple[str, tuple[int, ...], Any]] = []
    failures: list[ItemFailure | None] = [None] * len(items)
    started = time.perf_counter()
    try:
        if block.all_sync:

            def lookup(levels: int, key: str) -> Any:
                return externals[(levels, key)]

            emitted = [s.name for s in block.steps if s.emit] if want_events else []
            for n, (values, index) in enumerate(items):
                failures[n] = run_item_sync(block, values, lookup, index, WORKER_RESOURCES)
                if failures[n] is None:
                    events.extend((name, index, values[name]) for name in emitted)
        else:
            sink = events.append if want_events else None
            failures = _run_loop(_run_items(block, items, _frames(externals), sink))
    except NodeExecutionError as exc:
        return _pickle_error(exc)
    out = [
        {k: values[k] for k in keys} if failure is None else {FAILED_KEY: _portable(failure)}
        for (values, _), failure in zip(items, failures, strict=True)
    ]
    # failures are reported once, by the parent, when it ends those items
    events = [e for e in events if not isinstance(e[2], ItemFailure)]
    elapsed = time.perf_counter() - started
    return cloudpickle.dumps(("ok", out, elapsed, events))  # type: ignore[no-any-return]


#: the payload key of a single sync function call (a node outside blocks on processes)
CALL = "\0call"


def run_call(data: bytes) -> bytes:
    """Call one sync function with its keyword arguments; the answer as bytes."""
    try:
        fn, kwargs = cloudpickle.loads(data)
    except Exception as exc:
        return cloudpickle.dumps(("load", f"{type(exc).__name__}: {exc}"))  # type: ignore[no-any-return]
    try:
        value = fn(**kwargs)
    except Exception as exc:
        try:
            return cloudpickle.dumps(("raised", exc))  # type: ignore[no-any-return]
        except Exception:
            return cloudpickle.dumps(("raised", RuntimeError(f"{type(exc).__name__}: {exc}")))  # type: ignore[no-any-return]
    return cloudpickle.dumps(("ok", value))  # type: ignore[no-any-return]


def decode_call(data: bytes) -> Any:
    """In the parent: the call's value, or its exception raised as itself."""
    status, body = cloudpickle.loads(data)
    if status == "ok":
        return body
    if status == "raised":
        raise body
    raise SerializationError(
        f"a worker process could not load the call: {body}. The modules that define your"
        " nodes must be importable in the worker, or be the main script."
    )


def _portable(failure: ItemFailure) -> ItemFailure:
    """The failure with an error that is sure to pickle."""
    try:
        cloudpickle.dumps(failure.error)
        return failure
    except Exception:
        error = RuntimeError(f"{type(failure.error).__name__}: {failure.error}")
        return ItemFailure(failure.node, failure.index, error, failure.policy)


def _frames(externals: dict[tuple[int, str], Any]) -> _Frame | None:
    depth = max((lvl for lvl, _ in externals), default=0)
    frame: _Frame | None = None
    for level in range(depth, 0, -1):
        frame = _Frame({k: v for (lvl, k), v in externals.items() if lvl == level}, frame)
    return frame


def serve(conn: Connection) -> None:
    """A worker process's main loop: answer payloads until told to stop."""
    try:
        while True:
            try:
                message = conn.recv_bytes()
            except (EOFError, OSError):
                break
            if message == b"\0stop":
                break
            key, plan, data = cloudpickle.loads(message)
            try:
                answer = run_call(data) if key == CALL else run_batch(key, plan, data)
            except BaseException as exc:  # never die silently: report what went wrong
                answer = cloudpickle.dumps(("crash", f"{type(exc).__name__}: {exc}"))
            conn.send_bytes(answer)
    finally:
        _close_resources()


def _close_resources() -> None:
    WORKER_RESOURCES.close()


def _pickle_error(exc: NodeExecutionError) -> bytes:
    cause = exc.__cause__
    try:
        cause_bytes = cloudpickle.dumps(cause)
    except Exception:
        cause_bytes = cloudpickle.dumps(RuntimeError(f"{type(cause).__name__}: {cause}"))
    detail = getattr(exc, "detail", "")
    return cloudpickle.dumps(("err", (exc.node, exc.index, detail, cause_bytes)))  # type: ignore[no-any-return]


def decode_batch(
    data: bytes,
) -> tuple[list[dict[str, Any]], float, list[tuple[str, tuple[int, ...], Any]]]:
    """In the parent: each item's values, the batch's time in the worker and the events;
    or the error, raised."""
    status, *body = cloudpickle.loads(data)
    if status == "ok":
        return body[0], body[1], body[2]
    if status == "load":
        raise SerializationError(
            f"a worker process could not load the task: {body[0]}. The modules that define your"
            " nodes must be importable in the worker (on sys.path, not created in memory), or"
            " be the main script."
        )
    if status == "crash":
        raise WorkerDiedError(f"the worker failed outside any node: {body[0]}")
    node, index, detail, cause_bytes = body[0]
    cause = cloudpickle.loads(cause_bytes)
    err = NodeExecutionError(node, tuple(index), detail)
    err.__cause__ = cause
    raise err


_LOOP: asyncio.AbstractEventLoop | None = None


def _run_loop(coro: Any) -> Any:
    """Run ``coro`` on this worker's one event loop (uvloop when installed).

    One loop for the worker's life, so that an async per-worker resource (bound to a loop) is
    built once per worker, not once per batch.
    """
    global _LOOP
    if _LOOP is None:
        try:
            import uvloop

            _LOOP = uvloop.new_event_loop()
        except ImportError:  # pragma: no cover - uvloop is a dependency where it installs
            _LOOP = asyncio.new_event_loop()
        asyncio.set_event_loop(_LOOP)
    return _LOOP.run_until_complete(coro)


async def _run_items(
    block: BlockPlan,
    items: list[tuple[dict[str, Any], tuple[int, ...]]],
    frame: _Frame | None,
    events: Callable[[Event], None] | None,
) -> list[ItemFailure | None]:
    """The items of a batch, concurrently on this worker's loop; the first failure wins,
    except items that their error policy ends (reported per item)."""
    return list(
        await asyncio.gather(
            *(_run_instance(block, values, frame, index, events) for values, index in items)
        )
    )


async def _run_instance(
    block: BlockPlan,
    values: dict[str, Any],
    frame: _Frame | None,
    index: tuple[int, ...],
    events: Callable[[Event], None] | None,
) -> ItemFailure | None:
    from asyncdag.execution.executors import SynchronousLocalTaskExecutor

    inline = SynchronousLocalTaskExecutor()
    run = Run(
        inline, inline, inline_sync=True, window=64, resources=WORKER_RESOURCES, events=events
    )
    inst = Instance(run, block, values, frame, index, lambda _: run.finish())  # type: ignore[arg-type]
    inst.start()
    await run.wait()
    return inst.failed
