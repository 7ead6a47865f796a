"""The one off-loop interpreter of an all-sync block instance.

A block whose steps are all sync node calls runs as one piece wherever it is sent: on a thread
of a thread executor (one hop for the whole item, several items per hop) and in a worker
process. :func:`run_block` calls its steps in plan order in the calling thread, each inside
its node-call context (``asyncdag._calls``), applies the failing node's error policy through
``_outcome.failed``, and, when asked, records each call for the lifecycle hooks of the run
(which are fired later, on the run's loop: *relayed*).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from asyncdag import _calls
from asyncdag._memo import MISS, SLOW, Memo
from asyncdag.execution._outcome import DONE, Outcome, failed
from asyncdag.execution._plan import BlockPlan, CallStep
from asyncdag.execution._resources import ResourceCache, resolve_sync

__all__ = [
    "NodeRecord",
    "call_detached",
    "call_step",
    "call_through_memo",
    "item_label",
    "run_block",
    "step_kwargs",
]


class NodeRecord:
    """A node event that happened off the loop, for the run's hooks to hear of later.

    ``kind`` is ``"call"`` (one call: ``ok``, ``value`` — the result, or the exception —,
    ``attempts``, ``kwargs`` when hooks want them) or ``"retry"`` (``attempts`` is the attempt
    about to start, ``value`` the error, ``delay`` the pause before it) or ``"hook"`` (an
    item-level event of a nested expansion: ``node`` is the hook's name, ``kwargs`` its plain
    arguments, ``value`` the task's error if any).
    """

    __slots__ = (
        "attempts",
        "delay",
        "ended_at",
        "index",
        "kind",
        "kwargs",
        "label",
        "node",
        "ok",
        "started_at",
        "value",
    )

    def __init__(
        self,
        kind: str,
        node: str,
        index: tuple[int, ...],
        started_at: float,
        ended_at: float,
        ok: bool,
        value: Any,
        attempts: int,
        kwargs: Any = None,
        delay: float = 0.0,
        label: str | None = None,
    ) -> None:
        self.kind = kind
        self.node = node
        self.index = index
        self.label = label
        self.started_at = started_at
        self.ended_at = ended_at
        self.ok = ok
        self.value = value
        self.attempts = attempts
        self.kwargs = kwargs
        self.delay = delay

    def __getstate__(self) -> tuple[Any, ...]:
        return tuple(getattr(self, k) for k in self.__slots__)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for k, v in zip(self.__slots__, state, strict=True):
            setattr(self, k, v)


Lookup = Callable[[int, str], Any]


def item_label(block: BlockPlan, values: dict[str, Any]) -> str | None:
    """The label of the item whose instance holds ``values`` (``None`` at the top)."""
    if block.expander is None:
        return None
    return block.label_of(values[block.expander])


def step_kwargs(
    step: CallStep,
    values: dict[str, Any],
    lookup: Lookup,
    resources: ResourceCache,
) -> dict[str, Any]:
    """A sync step's arguments from ``values`` (this instance) and ``lookup`` (outer
    instances), with per-worker resources resolved for this place."""
    kwargs = {kw: (values[key] if lvl == 0 else lookup(lvl, key)) for kw, lvl, key in step.args}
    if step.resource_args:
        resolve_sync(step.resource_args, kwargs, resources, step.is_async)
    return kwargs


def call_step(
    step: CallStep,
    values: dict[str, Any],
    lookup: Lookup,
    resources: ResourceCache,
) -> Any:
    """Call a sync step with its arguments (see :func:`step_kwargs`)."""
    return step.fn(**step_kwargs(step, values, lookup, resources))


def call_through_memo(
    step: CallStep,
    memo: Memo,
    kwargs: dict[str, Any],
    run: _calls.RunInfo,
    index: tuple[int, ...],
    make_call: Callable[[], _calls.CallInfo | None] | None,
    *,
    detached: bool = False,
) -> Any:
    """A cached sync step's call (see ``asyncdag._memo``): a hit's value, or the node's own
    value, kept by the cache; when the memo cannot answer at once, the cache's wrapper, with
    the ``CallInfo`` ``make_call()`` makes current (``None``: one is current already).
    ``detached``: call user code as if no loop ran on this thread (``call_detached``)."""
    key, found = memo.look(run, index, kwargs)
    if found is MISS:
        try:
            value = call_detached(memo.fn, kwargs) if detached else memo.fn(**kwargs)
        except Exception as exc:
            memo.failed(run, index, key, exc)
            raise
        if memo.keep(run, index, key, value):
            memo.settle_sync()
        return value
    if found is not SLOW:
        return found
    token = _calls.switch_call(make_call()) if make_call is not None else None
    try:
        return call_detached(step.fn, kwargs) if detached else step.fn(**kwargs)
    finally:
        if token is not None:
            _calls.exit_call(token)


def call_detached(fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """Call sync user code on the loop's thread as if no loop were running.

    Inline sync nodes (``execute()``, the inline executor) are plain blocking code, as in
    Hamilton; some of them call ``asyncio.run()`` themselves, which refuses to start while the
    thread has a running loop. The loop is suspended meanwhile anyway, so hide it for the call.
    """
    loop = asyncio._get_running_loop()
    asyncio._set_running_loop(None)
    try:
        return fn(**kwargs)
    finally:
        asyncio._set_running_loop(loop)


def run_block(
    block: BlockPlan,
    values: dict[str, Any],
    lookup: Lookup,
    index: tuple[int, ...],
    resources: ResourceCache,
    run: _calls.RunInfo,
    *,
    record: list[NodeRecord] | None = None,
    on_retry: Any = None,
    with_inputs: bool = False,
    held: Any = None,
) -> Outcome:
    """Run one all-sync block instance here; its values go into ``values``.

    Returns ``DONE``, or the outcome of the first failing node (``Ended`` when its error
    policy ends only the item, ``Raised`` when it fails the run). ``record`` collects one
    :data:`NodeRecord` per call; ``on_retry`` is the engine's retry reporter for the calls'
    ``CallInfo``. The run's cancellation (``check_cancelled()``) propagates as it is; a
    ``CancelledError`` a node raises while its run goes on is that node's failure.
    """
    # the run is this thread's current run while its steps run (a worker's thread knows none
    # of its own): ``current_run()``, ``check_cancelled()`` and the cache's state need it
    run_token = _calls.enter_run(run) if _calls.current_run() is not run else None
    try:
        return _run_steps(block, values, lookup, index, resources, run, record, on_retry,
                          with_inputs, held)  # fmt: skip
    finally:
        if run_token is not None:
            _calls.exit_run(run_token)


def _run_steps(
    block: BlockPlan,
    values: dict[str, Any],
    lookup: Lookup,
    index: tuple[int, ...],
    resources: ResourceCache,
    run: _calls.RunInfo,
    record: list[NodeRecord] | None,
    on_retry: Any,
    with_inputs: bool,
    held: Any,
) -> Outcome:
    """:func:`run_block`'s steps, with its run current."""
    label_of = _LazyLabel(block, values)
    for step in block.steps:
        assert isinstance(step, CallStep)
        if run.cancelled:
            raise asyncio.CancelledError()
        call = (
            _calls.CallInfo(run, step.name, index, label_of, on_retry, held)
            if step.wants_call
            else None
        )
        token = _calls.switch_call(call)
        attempts = 1
        started = time.time() if record is not None else 0.0
        try:
            kwargs: Any = None
            if with_inputs:
                kwargs = {
                    kw: (values[key] if lvl == 0 else lookup(lvl, key))
                    for kw, lvl, key in step.args
                }
            memo = step.memo
            if memo is None:
                value = call_step(step, values, lookup, resources)
            else:  # cached: the memo knows the item; its wrapper, if called, is told by a CallInfo
                value = call_through_memo(
                    step,
                    memo,
                    step_kwargs(step, values, lookup, resources),
                    run,
                    index,
                    None
                    if call is not None
                    else lambda name=step.name: _calls.CallInfo(  # type: ignore[misc]
                        run, name, index, label_of, on_retry, held
                    ),
                )
        except (Exception, SystemExit, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError) and run.cancelled:
                raise  # the run's cancellation (check_cancelled), not the node's failure
            if record is not None:
                record.append(
                    NodeRecord(
                        "call",
                        step.name,
                        index,
                        started,
                        time.time(),
                        False,
                        exc,
                        call.attempt if call else attempts,
                        kwargs,
                        label=label_of(),
                    )
                )
            return failed(step.name, step.on_error, index, label_of(), exc)
        finally:
            if token is not None:
                _calls.exit_call(token)
        values[step.name] = value
        if record is not None:
            record.append(
                NodeRecord(
                    "call",
                    step.name,
                    index,
                    started,
                    time.time(),
                    True,
                    value,
                    call.attempt if call else attempts,
                    kwargs,
                    label=label_of(),
                )
            )
    return DONE


class _LazyLabel:
    """Makes the item's label only when something asks for it."""

    __slots__ = ("block", "values")

    def __init__(self, block: BlockPlan, values: dict[str, Any]) -> None:
        self.block = block
        self.values = values

    def __call__(self) -> str | None:
        return item_label(self.block, self.values)
