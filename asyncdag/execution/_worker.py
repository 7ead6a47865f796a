"""What runs inside a worker process: one block instance from a cloudpickle payload.

The block's plan travels as bytes that the parent pickles once per block; the worker keeps
the unpickled plan by key, so each item costs only its own values. An all-sync block runs
directly; a block with async nodes or nested expanders runs on an event loop of the worker's
own (uvloop when installed), with inner items processed one at a time.
"""

from __future__ import annotations

import asyncio
from typing import Any

import cloudpickle

from asyncdag.errors import NodeExecutionError
from asyncdag.execution._plan import BlockPlan
from asyncdag.execution._scheduler import Instance, Run, run_block_sync

__all__ = ["run_payload"]

_PLANS: dict[str, BlockPlan] = {}


class _Frame:
    """Stands in for the parent instances: the outer values a block reads, by level."""

    __slots__ = ("parent", "values")

    def __init__(self, values: dict[str, Any], parent: _Frame | None) -> None:
        self.values = values
        self.parent = parent


def result_keys(block: BlockPlan) -> list[str]:
    return [*block.list_sinks, *(k for k, _, _ in block.stream_sinks)]


def run_payload(key: str, plan: bytes, data: bytes) -> bytes:
    block = _PLANS.get(key)
    if block is None:
        block = _PLANS[key] = cloudpickle.loads(plan)
    values, externals, index = cloudpickle.loads(data)
    try:
        depth = max((lvl for lvl, _ in externals), default=0)
        frame: _Frame | None = None
        for level in range(depth, 0, -1):
            frame = _Frame({k: v for (lvl, k), v in externals.items() if lvl == level}, frame)
        if block.all_sync:

            def lookup(levels: int, key: str) -> Any:
                return externals[(levels, key)]

            run_block_sync(block, values, lookup, index)
        else:
            _run_loop(_run_instance(block, values, frame, index))
        out = {k: values[k] for k in result_keys(block)}
        return cloudpickle.dumps(("ok", out))  # type: ignore[no-any-return]
    except NodeExecutionError as exc:
        return _pickle_error(exc)


def _pickle_error(exc: NodeExecutionError) -> bytes:
    cause = exc.__cause__
    try:
        cause_bytes = cloudpickle.dumps(cause)
    except Exception:
        cause_bytes = cloudpickle.dumps(RuntimeError(f"{type(cause).__name__}: {cause}"))
    return cloudpickle.dumps(("err", (exc.node, exc.index, str(exc), cause_bytes)))  # type: ignore[no-any-return]


def decode_result(data: bytes) -> dict[str, Any]:
    """In the parent: the block's values, or the node's error raised with its cause."""
    status, body = cloudpickle.loads(data)
    if status == "ok":
        return body  # type: ignore[no-any-return]
    node, index, _, cause_bytes = body
    cause = cloudpickle.loads(cause_bytes)
    err = NodeExecutionError(node, tuple(index), f"{type(cause).__name__}: {cause}")
    err.__cause__ = cause
    raise err


def _run_loop(coro: Any) -> None:
    try:
        import uvloop

        uvloop.run(coro)
    except ImportError:  # pragma: no cover - uvloop is a dependency where it installs
        asyncio.run(coro)


async def _run_instance(
    block: BlockPlan, values: dict[str, Any], frame: _Frame | None, index: tuple[int, ...]
) -> None:
    from asyncdag.execution.executors import SynchronousLocalTaskExecutor

    inline = SynchronousLocalTaskExecutor()
    run = Run(inline, inline, inline_sync=True, window=64)
    inst = Instance(run, block, values, frame, index, lambda _: run.finish())  # type: ignore[arg-type]
    inst.start()
    await run.wait()
