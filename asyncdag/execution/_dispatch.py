"""How work leaves an expansion or an instance: chosen once, by the executor in charge.

Two small interfaces, each with a few implementations. The scheduler (``_instance``,
``_fanout``) calls them and never asks what they are.

*Sync calls* (:class:`~asyncdag.execution._instance.SyncCalls`): how a sync step of an in-loop
instance runs.

- :class:`InlineCalls` — on the loop's thread, as a plain call (``execute()``'s private loop
  with the default executor; the inline executor). A step that must not block the loop (a
  sync streaming collector, a policy that waits) still goes to a thread.
- :class:`ThreadCalls` — on the executor's thread pool; a chain of sync steps in one hop.
- :class:`ProcessCalls` — one call in a worker process (a remote executor used as the local
  one).

*Block dispatch* (:class:`Dispatch`): how the block instances of one expansion run. The
expansion asks ``admit`` (may another instance start?), then ``start(child)``; the instance's
outcome reaches the expansion through ``child.finish``, after which it calls ``release``.

- :class:`InLoop` — each instance is driven on the loop (its async steps are tasks, its sync
  steps go to its ``SyncCalls``); ``max_tasks`` is one slot per instance, or one instance at
  a time (the inline executor).
- :class:`ThreadHops` — an all-sync instance runs whole on a pool thread (``_blockrun``), and
  a hop takes several cheap items; ``max_tasks`` is one slot per hop.
- :class:`Remote` — instances travel to workers in batches (``_wire``), through an executor's
  ``ship``; ``max_tasks`` is one slot per batch in flight.

Who owns what: every task, thread job and remote batch is started through the run
(``Run.spawn`` / ``Run.to_thread``), so the run's failure or cancellation reaches them. Slots
are borrowed in the run's name.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from asyncdag import _calls
from asyncdag._memo import Memo
from asyncdag._sync import Signal, SlotLimiter
from asyncdag.execution import _wire
from asyncdag.execution._blockrun import NodeRecord, call_detached, call_through_memo, run_block
from asyncdag.execution._instance import Instance
from asyncdag.execution._outcome import DONE, Done, Ended, Outcome, Raised
from asyncdag.execution._plan import BlockPlan, CallStep
from asyncdag.execution._run import Run
from asyncdag.execution._threads import ThreadPool

__all__ = [
    "Dispatch",
    "InLoop",
    "InlineCalls",
    "ProcessCalls",
    "Remote",
    "ThreadCalls",
    "ThreadHops",
]

#: a thread hop keeps taking items while it has run for less than this (seconds)
HOP_SECONDS = 0.001


class _ChainFailed(Exception):
    """A step of a chain raised; ``values`` are those of the steps before it."""

    def __init__(
        self, step: CallStep, exc: BaseException, attempts: int, values: list[Any]
    ) -> None:
        self.step, self.exc, self.attempts, self.values = step, exc, attempts, values


def _run_chain(
    inst: Instance, chain: tuple[int, ...], kwargs0: dict[str, Any], detached: bool
) -> list[Any]:
    """The steps of ``chain`` in order, each reading the previous one's value; raises
    ``_ChainFailed`` naming the step that failed.

    Once the item has ended (another of its nodes failed under an error policy) no further
    step starts: the values so far are returned (their hooks then close), and a chain whose
    first step had not started fails it with ``CancelledError`` (its start was reported at
    launch: the loop closes it with that error, and nothing else of it counts).
    """
    steps, values, lookup = inst.block.steps, inst.values, inst.lookup
    overlay: dict[str, Any] = {}
    out: list[Any] = []
    run = inst.run.info
    for n, i in enumerate(chain):
        step = steps[i]
        assert isinstance(step, CallStep)
        if run.cancelled:
            raise asyncio.CancelledError()
        if inst.ended:
            if n == 0:
                ended = asyncio.CancelledError("its item had ended before the call began")
                raise _ChainFailed(step, ended, 1, out)
            break
        if n == 0:
            kwargs = kwargs0
        else:
            kwargs = {
                kw: (
                    overlay[key]
                    if key in overlay
                    else values[key]
                    if lvl == 0
                    else lookup(lvl, key)
                )
                for kw, lvl, key in step.args
            }
        call = _calls.CallInfo(run, step.name, inst.index, owner=inst) if step.wants_call else None
        token = _calls.switch_call(call)
        try:
            if step.memo is not None:
                value = _through_memo(inst, step, step.memo, kwargs, call, detached)
            else:
                value = call_detached(step.fn, kwargs) if detached else step.fn(**kwargs)
        except (Exception, SystemExit, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError) and run.cancelled:
                raise  # the run's cancellation (check_cancelled), not the node's failure
            raise _ChainFailed(step, exc, call.attempt if call else 1, out) from exc
        finally:
            if token is not None:
                _calls.exit_call(token)
        overlay[step.name] = value
        out.append(value)
    return out


def _through_memo(
    inst: Instance,
    step: CallStep,
    memo: Memo,
    kwargs: dict[str, Any],
    call: _calls.CallInfo | None,
    detached: bool,
) -> Any:
    """A cached sync step's call on the loop or a run's thread (``call``: this call's
    ``CallInfo``, current already, if any): :func:`_blockrun.call_through_memo`."""
    make_call = None if call is not None else lambda: inst.call_info(step)
    return call_through_memo(
        step, memo, kwargs, inst.run.info, inst.index, make_call, detached=detached
    )


def _chain_of(inst: Instance, i: int, step: CallStep) -> tuple[int, ...]:
    """The steps one call of ``step`` runs: its chain, unless node hooks listen (then each
    step is a call of its own; see ``Instance.launch_all``)."""
    hooks = inst.run.hooks
    if step.chain and (hooks is None or not hooks.nodes):
        return step.chain
    return (i,)


def _chain_finished(
    inst: Instance, chain: tuple[int, ...], values: list[Any], failure: _ChainFailed | None
) -> None:
    """The loop's side of a chain: hooks of the steps fused behind the first (whose hook
    fired when it was launched), their values, and the failure if one failed."""
    hooks = inst.run.hooks
    steps = inst.block.steps
    done = chain[: len(values)]
    if hooks is not None and hooks.before_node:
        upto = len(values) + (1 if failure is not None else 0)
        for i in chain[1:upto]:
            step = steps[i]
            assert isinstance(step, CallStep)
            inst.node_started(step)
    if values:
        inst.chain_done(done, values)
    if failure is not None:
        inst.step_failed(failure.step, failure.exc, failure.attempts)


class InlineCalls:
    """Sync steps run as plain calls on the loop's thread; ``pool`` takes the steps that
    must never block the loop. ``executor`` names the executor in charge (for hooks)."""

    def __init__(self, pool: ThreadPool, executor: str = "") -> None:
        self._threads = ThreadCalls(pool, executor)
        self.executor = executor

    def call(self, inst: Instance, i: int, step: CallStep) -> Done | None:
        if step.needs_thread:
            return self._threads.call(inst, i, step)
        chain = _chain_of(inst, i, step)
        if len(chain) == 1:
            call = inst.call_info(step) if step.wants_call else None
            token = _calls.switch_call(call)
            try:
                if step.memo is not None:
                    kwargs = inst.kwargs(step)
                    return Done(_through_memo(inst, step, step.memo, kwargs, call, True))
                return Done(call_detached(step.fn, inst.kwargs(step)))
            except (Exception, SystemExit, asyncio.CancelledError) as exc:
                if isinstance(exc, asyncio.CancelledError) and not inst.run.alive:
                    raise  # the run's cancellation, not the node's failure
                inst.step_failed(step, exc, call.attempt if call else 1)
                return None
            finally:
                if token is not None:
                    _calls.exit_call(token)
        try:
            values = _run_chain(inst, chain, inst.kwargs(step), detached=True)
        except _ChainFailed as failure:
            _chain_finished(inst, chain, failure.values, failure)
            return None
        _chain_finished(inst, chain, values, None)
        return None

    async def run_sync(self, inst: Instance, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        return call_detached(fn, kwargs)


class ThreadCalls:
    """Sync steps run on ``pool``; a chain of them in one hop."""

    def __init__(self, pool: ThreadPool, executor: str = "") -> None:
        self.pool = pool
        self.executor = executor

    def call(self, inst: Instance, i: int, step: CallStep) -> Done | None:
        chain = _chain_of(inst, i, step)
        job = inst.run.to_thread(self.pool, _run_chain, inst, chain, inst.kwargs(step), False)
        job.future.add_done_callback(lambda fut: self._done(fut, inst, chain))
        return None

    @staticmethod
    def _done(fut: asyncio.Future[Any], inst: Instance, chain: tuple[int, ...]) -> None:
        if fut.cancelled():
            return
        exc = fut.exception()  # retrieved in every case: no "never retrieved" noise
        if not inst.run.alive:
            return
        if isinstance(exc, _ChainFailed):
            _chain_finished(inst, chain, exc.values, exc)
        elif exc is not None:  # the run's cancellation seen on the thread, or an engine bug
            if not isinstance(exc, asyncio.CancelledError):
                inst.run.fail(exc)
            elif inst.ended:  # its item ended meanwhile: the call's end closes its hooks
                inst.step_failed(inst.block.steps[chain[0]], exc)
        else:
            _chain_finished(inst, chain, fut.result(), None)

    async def run_sync(self, inst: Instance, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        run = inst.run
        try:
            return await run.to_thread(self.pool, _call_kwargs, run.info, fn, kwargs).future
        except _OwnCancel as own:
            raise own.exc from None


class _OwnCancel(Exception):
    """Carries a ``CancelledError`` that a sync call raised itself, not for its run's end,
    back from its thread: a thread's future would otherwise read it as cancelled."""

    def __init__(self, exc: asyncio.CancelledError) -> None:
        self.exc = exc


def _call_kwargs(run: _calls.RunInfo, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    try:
        return fn(**kwargs)
    except asyncio.CancelledError as exc:
        if run.cancelled:
            raise  # the run's cancellation (check_cancelled)
        raise _OwnCancel(exc) from None


class ProcessCalls:
    """Each sync step is one call in a worker process of ``executor`` (a remote executor
    used as the local one)."""

    def __init__(self, executor: Any, pool: ThreadPool) -> None:
        self.backend = executor
        self.executor = type(executor).__name__
        self._threads = ThreadCalls(pool, self.executor)

    def call(self, inst: Instance, i: int, step: CallStep) -> Done | None:
        if step.needs_thread:
            return self._threads.call(inst, i, step)
        data = _wire.encode_call(step.name, step.fn, inst.kwargs(step))
        inst.run.spawn(self._call(inst, i, step, data))
        return None

    async def _call(self, inst: Instance, i: int, step: CallStep, data: bytes) -> None:
        raw = await self.backend.ship_call(data, f"node {step.name!r}")
        outcome = _wire.decode_call_answer(raw)
        if isinstance(outcome, Done):
            inst.step_done(i, outcome.value)
        elif isinstance(outcome, Raised):
            inst.step_failed(step, outcome.error)

    async def run_sync(self, inst: Instance, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        name = getattr(fn, "__name__", "function")
        raw = await self.backend.ship_call(_wire.encode_call(name, fn, kwargs), f"{name!r}")
        outcome = _wire.decode_call_answer(raw)
        if isinstance(outcome, Raised):
            raise outcome.error
        assert isinstance(outcome, Done)
        return outcome.value


# -- block dispatch ----------------------------------------------------------------------------


class Dispatch:
    """How the instances of one expansion run; see the module docstring."""

    #: advance a blocking source (a sync generator) on the loop instead of the pump threads
    advance_inline: bool = False
    #: the executor in charge, as hooks name it
    executor: str = ""
    #: instances run as tasks of the run on its loop, one slot each: an expansion may start
    #: an item of a lone async block as its own task, with no Instance (``_fanout._Lone``),
    #: holding the slot that :meth:`granted` hands over
    starts_lone: bool = False

    def admit_nowait(self, run: Run) -> bool:
        """Take what one more instance needs, if it is there now."""
        return True

    async def admit(self, run: Run) -> None:
        """Wait for what one more instance needs."""

    def start(self, child: Instance) -> None:
        raise NotImplementedError

    def granted(self) -> SlotLimiter | None:
        """The limiter whose slot the last admission took, now the caller's to give back
        (``None``: it took none); for an item started without an Instance (``starts_lone``)."""
        return None

    def release(self, child: Instance) -> None:
        """``child`` has finished: give back what ``admit`` took for it."""

    def finished(self) -> None:
        """No more instances will be started (the expansion's source is exhausted)."""


class InLoop(Dispatch):
    """Instances driven on the loop; ``limiter``: one slot per instance; ``sequential``: one
    instance at a time (the inline executor).

    A run started from inside an instance that holds a slot of ``limiter`` (a node running
    its own driver again) takes none: its instances run in that slot, as nested instances run
    in their parent's, so the inner run never waits for slots its caller holds.
    """

    def __init__(
        self, limiter: SlotLimiter | None, sequential: bool = False, executor: str = ""
    ) -> None:
        self.limiter = limiter
        self.sequential = sequential
        self.executor = executor
        self.advance_inline = sequential  # the inline executor: everything on the loop
        self.starts_lone = not sequential
        self._busy = False
        self._free: Signal | None = Signal() if sequential else None
        self._slotted = False  # the last admission took a slot (start() hands it to the child)
        self._listed = False  # the run knows it borrows from limiter

    def admit_nowait(self, run: Run) -> bool:
        if self.sequential:
            if self._busy:
                return False
            self._busy = True
            return True
        limiter = self.limiter
        if limiter is None or limiter in run.held:
            self._slotted = False
            return True
        self._slotted = slotted = limiter.try_acquire(run)
        if slotted and not self._listed:
            run.limiters.add(limiter)  # given back by the run if an instance is cut short
            self._listed = True  # this dispatch serves one expansion of one run
        return slotted

    async def admit(self, run: Run) -> None:
        if self.sequential:
            assert self._free is not None
            while self._busy:
                await self._free.wait()
            self._busy = True
            return
        if self.limiter is not None and self.limiter not in run.held:
            await run.take_slot(self.limiter)
            self._slotted = True

    def granted(self) -> SlotLimiter | None:
        if self._slotted:
            self._slotted = False
            return self.limiter
        return None

    def start(self, child: Instance) -> None:
        if self._slotted:
            child.slotted = self.limiter
            self._slotted = False
        child.start()

    def release(self, child: Instance) -> None:
        if self.sequential:
            self._busy = False
            assert self._free is not None
            self._free.set()
        elif child.slotted is not None:
            child.slotted.release(child.run)


class _Batching(Dispatch):
    """Instances wait in ``pending`` for a sender task of the run that ships them off the
    loop in groups, each group holding one slot of ``limiter`` while it is away."""

    def __init__(
        self, run: Run, block: BlockPlan, limiter: SlotLimiter | None, executor: str = ""
    ) -> None:
        self.executor = executor
        self.run = run
        self.block = block
        self.limiter = limiter
        self.pending: deque[Instance] = deque()  # threads pop from it: deque is thread-safe
        # instances of a failed run that were never sent hold their expansion, which holds
        # this dispatch: a cycle, unless they are let go once the run is over
        run.call_at_end(self.pending.clear)
        self._wake = Signal()
        # the sender task is the run's (it holds it); a reference here would make a cycle
        # of a cancelled sender, its CancelledError's traceback and this dispatch
        self._sending = False
        self._exhausted = False

    def start(self, child: Instance) -> None:
        self.pending.append(child)
        if not self._sending:
            self._sending = True
            self.run.spawn(self._send())
        else:
            self._wake.set()

    def finished(self) -> None:
        self._exhausted = True
        self._wake.set()

    async def _send(self) -> None:
        run = self.run
        while run.alive:
            while len(self.pending) <= self._spoken_for():
                if self._exhausted and not self.pending:
                    return
                await self._wake.wait()
            if self._needs_slot() and not run.try_slot(self.limiter):  # type: ignore[arg-type]
                await run.take_slot(self.limiter)  # type: ignore[arg-type]
            await asyncio.sleep(0)  # let items yielded back to back join this group
            self._launch()

    def _needs_slot(self) -> bool:
        # a run started from inside a slot of this limiter runs in it (see InLoop)
        return self.limiter is not None and self.limiter not in self.run.held

    def _spoken_for(self) -> int:
        """Pending items that groups already on their way will take."""
        return 0

    def _launch(self) -> None:
        """Send one group off, holding the slot just taken."""
        raise NotImplementedError

    def _settle(self, child: Instance, outcome: Outcome, records: Any) -> None:
        """A child's outcome came back: its values, its hooks, its end."""
        if not self.run.alive or child.ended:
            return
        if records:
            child.relay(records)
        if isinstance(outcome, Done):
            if outcome.value is not None and outcome.value is not child.values:
                child.values.update(outcome.value)
            for name in self.block.emitted:
                child._emit(name, child.values[name])
            child.finish(DONE)
        elif isinstance(outcome, Ended):
            child.finish(outcome)
        else:
            self.run.fail(outcome.error)

    def _give_slot(self) -> None:
        if self._needs_slot():
            self.run.give_slot(self.limiter)  # type: ignore[arg-type]
        self._wake.set()  # items may be left for a new group


class ThreadHops(_Batching):
    """All-sync instances run whole on ``pool`` threads, several per hop (a hop costs more
    than a cheap item): a hop keeps taking pending items while it has run less than
    ``HOP_SECONDS``, so a slow item ends its hop after itself, and items that wait for each
    other still run on different hops (hops share one queue, they own no fixed batch)."""

    def __init__(
        self,
        run: Run,
        block: BlockPlan,
        pool: ThreadPool,
        limiter: SlotLimiter | None,
        executor: str = "",
    ) -> None:
        super().__init__(run, block, limiter, executor)
        self.pool = pool
        self._lock = threading.Lock()
        self._waiting = 0  # hops sent to the pool that have not taken an item yet

    def _spoken_for(self) -> int:
        return self._waiting

    def _launch(self) -> None:
        with self._lock:
            self._waiting += 1
        self.run.spawn(self._ship())

    async def _ship(self) -> None:
        run = self.run
        hooks = run.hooks
        wants = hooks is not None and hooks.nodes
        inputs = bool(hooks is not None and hooks.node_inputs)
        job = run.to_thread(self.pool, self._hop, wants, inputs)
        try:
            done = await job.future
        finally:
            if not job.started:
                with self._lock:
                    self._waiting -= 1
            self._give_slot()
        for child, outcome, records in done:
            self._settle(child, outcome, records)

    def _hop(self, wants: bool, inputs: bool) -> list[tuple[Instance, Outcome, Any]]:
        # on a pool thread
        with self._lock:
            self._waiting -= 1  # this hop has started
        run, block, pending = self.run, self.block, self.pending
        info, resources = run.info, run.resources
        started = time.perf_counter()
        done: list[tuple[Instance, Outcome, Any]] = []
        while not info.cancelled:
            try:
                child = pending.popleft()
            except IndexError:
                break
            records: list[NodeRecord] | None = [] if wants else None
            outcome = run_block(
                block,
                child.values,
                child.lookup,
                child.index,
                resources,
                info,
                record=records,
                on_retry=child.on_retry,
                with_inputs=inputs,
                held=self.limiter,
            )
            done.append((child, outcome, records))
            if time.perf_counter() - started > HOP_SECONDS:
                break
        return done


class Remote(_Batching):
    """Instances travel to workers through the executor (``executor.run_job``).

    Two regimes, chosen here once per expansion from the block's shape:

    - an all-sync block (CPU work) travels in *batches*, one slot of the executor's limiter
      each: a batch takes as many pending items as fill about ``executor.batch_seconds`` of
      measured work, at most ``max_batch``, and never more than an even share of what is
      pending among the workers, so with work queued every worker gets some;
    - any other block (async I/O) is *streamed*: each instance takes a slot of its own (the
      executor's ``processes x concurrency``), is sent as soon as it is admitted (with the
      items that arrived meanwhile), runs beside the others on its worker's loop, and comes
      back on its own as it finishes: no item waits for another.
    """

    def __init__(self, run: Run, block: BlockPlan, executor: Any) -> None:
        self.streamed = not block.all_sync
        super().__init__(
            run, block, None if self.streamed else executor.slots, type(executor).__name__
        )
        self.backend = executor
        self._options = executor.job_options(block)
        self._item_limiter: SlotLimiter | None = executor.slots if self.streamed else None
        self._slotted = False

    # -- streamed: admission per item, as InLoop does ------------------------------------------

    def admit_nowait(self, run: Run) -> bool:
        limiter = self._item_limiter
        if limiter is None or limiter in run.held:
            self._slotted = False
            return True
        self._slotted = run.try_slot(limiter)
        return self._slotted

    async def admit(self, run: Run) -> None:
        limiter = self._item_limiter
        if limiter is not None and limiter not in run.held:
            await run.take_slot(limiter)
            self._slotted = True

    def start(self, child: Instance) -> None:
        if self._slotted:
            child.slotted = self._item_limiter
            self._slotted = False
        super().start(child)

    def release(self, child: Instance) -> None:
        if child.slotted is not None:
            child.run.give_slot(child.slotted)

    # -- sending -------------------------------------------------------------------------------

    def _launch(self) -> None:
        pending, backend = self.pending, self.backend
        workers = max(1, backend.workers)
        share = math.ceil(len(pending) / workers)
        # streamed: everything admitted, spread over the workers; batches: measured sizes
        if self.streamed:
            group = backend.stream_group
            size = share if group is None else min(group, share)
            jobs = math.ceil(len(pending) / size)
        else:
            size, jobs = max(1, min(backend.batch_size(self.block), share)), 1
        for _ in range(jobs):
            if not pending:
                break
            batch = [pending.popleft() for _ in range(min(size, len(pending)))]
            self.run.spawn(self._ship(batch))

    async def _ship(self, batch: list[Instance]) -> None:
        run, block, executor = self.run, self.block, self.backend
        try:
            parent = batch[0].parent
            assert parent is not None
            externals = {(lvl, key): parent.lookup(lvl - 1, key) for lvl, key in block.external}
            hooks = run.hooks
            key, plan = _wire.plan_payload(block)
            data = _wire.encode_batch(
                block,
                externals,
                [(c.index, c.values) for c in batch],
                run_id=run.run_id,
                records=bool(hooks is not None and hooks.relayed),
                with_inputs=bool(hooks is not None and hooks.node_inputs),
                stream=run.events is not None,
            )
            first, last = batch[0].index, batch[-1].index
            what = (
                f"item {first} of {block.expander!r}"
                if first == last
                else f"items {first}..{last} of {block.expander!r}"
            )

            def part(raw: bytes) -> None:  # items of a streamed batch, as they finish
                if run.alive:
                    try:
                        self._answered(batch, raw)
                    except Exception as exc:  # called back by the pool: fail the run, not it
                        run.fail(exc)

            raw = await executor.run_job(
                key,
                plan,
                data,
                what,
                weight=len(batch),
                on_part=part if self.streamed else None,
                options=self._options,
            )
        finally:
            self._give_slot()
        elapsed = self._answered(batch, raw)
        executor.record(block, len(batch), elapsed)

    def _answered(self, batch: list[Instance], raw: bytes) -> float:
        positions, outcomes, records, elapsed, events = _wire.decode_answer(
            raw, lambda p: batch[p].label()
        )
        if not positions:
            return elapsed
        depth = len(batch[0].index)
        by_index: dict[tuple[int, ...], list[Any]] = {}
        for rec in records:
            by_index.setdefault(tuple(rec.index[:depth]), []).append(rec)
        nested: dict[tuple[int, ...], list[Any]] = {}
        for event in events:
            nested.setdefault(tuple(event[1][:depth]), []).append(event)
        for position, outcome in zip(positions, outcomes, strict=True):
            child = batch[position]
            for name, index, value in nested.get(child.index, ()):
                child._emit(name, value, tuple(index))
            self._settle(child, outcome, by_index.get(child.index))
        return float(elapsed)
