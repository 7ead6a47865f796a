"""One block instance: its values, its step countdown, and how its steps are launched.

An :class:`Instance` is driven by completions, not by a coroutine of its own: when a step
completes, the steps waiting on it are launched at once. How a *sync* step runs is not the
instance's choice: the executor in charge gave it a :class:`SyncCalls` (inline on the loop's
thread, on a thread pool, in a worker process). Async steps are tasks of the run; expander
steps open an expansion through the run (``run.open_expansion``), which sits above this
module.

A step ends in one of three ways, all through this class: :meth:`Instance.step_done` (its
value), :meth:`Instance.step_failed` (a user exception: ``_outcome.failed`` maps it and
applies the node's error policy), or the run is over (nothing happens). The instance itself
ends once, through :meth:`Instance.finish`, with an outcome the owner (an expansion, or the
run for the root) receives in ``on_done(instance, outcome)``.

An item can end while some of its calls are still running (another node failed under an
error policy). Those calls end later, and then only close their hooks
(:meth:`Instance.ended_meanwhile`); calls not begun yet never begin; an expansion still
waiting for a value of the item (its gate) gets :class:`ItemEnded` and stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from asyncdag import _calls
from asyncdag._memo import MISS, SLOW, Memo
from asyncdag.execution import _nodeevents
from asyncdag.execution._outcome import DONE, Done, Outcome, Raised, failed
from asyncdag.execution._plan import BlockPlan, CallStep, ExpandStep, Step
from asyncdag.execution._resources import resolve_async, resolve_sync
from asyncdag.execution._run import Run

__all__ = ["Instance", "ItemEnded", "SyncCalls"]


class ItemEnded(Exception):
    """Raised to an expansion waiting for a value of its instance when an error policy ends
    that instance's item first: the value will never come, and the expansion stops."""


class SyncCalls(Protocol):
    """How the sync steps of in-loop instances run; chosen by the executor in charge.

    ``call`` returns ``Done(value)`` when the step completed at once (inline), or ``None``
    when its completion will come through ``inst.step_done`` / ``inst.step_failed`` /
    ``inst.chain_done``. A failure of an inline call is reported through ``step_failed``
    (and ``None`` returned).
    """

    def call(self, inst: Instance, i: int, step: CallStep) -> Done | None: ...

    async def run_sync(self, inst: Instance, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        """Call ``fn(**kwargs)`` where this instance's sync steps run; its value."""
        ...


class Instance:
    """One block instance (the root of a run is one too)."""

    __slots__ = (
        "block",
        "calls",
        "charged",
        "ended",
        "expansion",
        "gates",
        "index",
        "on_done",
        "parent",
        "remaining",
        "run",
        "slotted",
        "values",
        "waits",
    )

    def __init__(
        self,
        run: Run,
        block: BlockPlan,
        values: dict[str, Any],
        parent: Instance | None,
        index: tuple[int, ...],
        calls: SyncCalls,
        on_done: Callable[[Instance, Outcome], None],
        expansion: Any = None,
    ) -> None:
        self.run = run
        self.block = block
        self.values = values
        self.parent = parent
        self.index = index
        self.calls = calls
        self.on_done = on_done
        self.expansion = expansion  # the expansion this instance is an item of (None: root)
        self.waits = list(block.initial_waits)
        self.remaining = len(block.steps)
        self.ended = False
        self.gates: list[asyncio.Future[None]] | None = None  # expansions awaiting values
        self.charged = 0  # astream events of this item (or inside it) the reader still holds
        self.slotted: Any = None  # the limiter whose slot this instance holds, if any

    # -- values ----------------------------------------------------------------------------

    def lookup(self, levels: int, key: str) -> Any:
        inst: Instance | None = self
        for _ in range(levels):
            assert inst is not None
            inst = inst.parent
        assert inst is not None
        return inst.values[key]

    def kwargs(self, step: CallStep | ExpandStep) -> dict[str, Any]:
        """The keyword arguments of ``step``'s call (its sync resources resolved; async ones
        are the caller's to await, ``resolve_async``)."""
        values = self.values
        local = step.local
        if local is not None:  # every argument a plain value of this instance
            kwargs = {}
            for kw, key in local:  # a loop, not a comprehension: no frame of its own on 3.11
                kwargs[kw] = values[key]
            return kwargs
        kwargs = {
            kw: (values[key] if lvl == 0 else self.lookup(lvl, key)) for kw, lvl, key in step.args
        }
        if step.resource_args:
            resolve_sync(step.resource_args, kwargs, self.run.resources, step.is_async)
        return kwargs

    def label(self) -> str | None:
        """This item's short label (made on demand; ``None`` for the root)."""
        block = self.block
        if block.expander is None:
            return None
        return block.label_of(self.values[block.expander])

    def call_info(self, step: Step) -> _calls.CallInfo:
        return _calls.CallInfo(self.run.info, step.name, self.index, owner=self)

    def held(self) -> Any:
        """The limiter whose slot this instance runs in (its own, or an outer instance's);
        for the root of a run, the one its caller ran in."""
        inst: Any = self
        while inst is not None:
            slotted = getattr(inst, "slotted", None)
            if slotted is not None:
                return slotted
            inst = inst.parent
        return next(iter(self.run.held), None)

    def on_retry(self, call: _calls.CallInfo, error: BaseException, delay: float) -> None:
        """A retry policy reports another attempt (from any thread of the run)."""
        run = self.run
        hooks = run.hooks
        if hooks is None or not hooks.retry:
            return
        kwargs = {
            "node_name": call.node,
            "index": call.index,
            "task_id": _nodeevents.task_id(call.index),
            "label": call.label,
            "attempt": call.attempt,
            "error": error,
            "delay": delay,
        }
        try:
            in_loop = asyncio.get_running_loop() is run.loop
        except RuntimeError:
            in_loop = False
        if in_loop:
            run.hook("run_before_node_retry", **kwargs)
        else:
            try:
                run.loop.call_soon_threadsafe(lambda: run.hook("run_before_node_retry", **kwargs))
            except RuntimeError:  # the loop is closed: the run is over
                pass

    # -- driving -----------------------------------------------------------------------------

    def start(self) -> None:
        if not self.block.steps:
            self.finish(DONE)
            return
        self.launch_all(self.block.ready)

    def launch_all(self, indices: Iterable[int]) -> None:
        # A worklist rather than recursion: long chains of inline steps must not grow the stack.
        work = list(indices)
        steps = self.block.steps
        run = self.run
        hooks = run.hooks
        # node hooks see every node's own call (its arguments, its start and end): chains
        # of sync steps are fused into one hop only when nobody listens to nodes
        fuse = hooks is None or not hooks.nodes
        while work and run.alive and not self.ended:
            i = work.pop()
            step = steps[i]
            if isinstance(step, CallStep):
                if step.fused and fuse:
                    continue  # runs inside the hop of its chain's first step
                if step.is_async:  # its task reports its start, when it starts the call
                    run.spawn_node(self._call_async(i, step))
                    continue
                if hooks is not None and hooks.before_node:
                    self.node_started(step)
                done = self.calls.call(self, i, step)
                if done is not None:
                    work.extend(self._complete(i, step, done.value, 1))
            elif isinstance(step, ExpandStep):
                run.open_expansion(self, i, step)
            # an ExpandDoneStep is completed by its expansion

    async def _call_async(self, i: int, step: CallStep) -> None:
        # One task per async step launched, and it goes on with an async step that its step
        # unblocked (a chain, a join): a node that follows another costs no task and no loop
        # turn. Every _CONTINUE_TURN steps in a row it yields, so a long chain of nodes that
        # never suspend cannot hold the loop. It settles itself (Run.spawn_node).
        inline = 0
        shown = True  # this task's context may hold a CallInfo (inherited, or an earlier step's)
        run = self.run
        try:
            while True:
                if not run.alive or self.ended:
                    return  # the item ended (or the run) before this call began: it never starts
                hooks = run.hooks
                if hooks is not None and hooks.before_node:
                    self.node_started(step)
                # this task's own context, no reset needed; a node never sees another's CallInfo
                if step.wants_call:
                    call: _calls.CallInfo | None = self.call_info(step)
                    _calls.enter_call(call)
                    shown = True
                else:
                    call = None
                    if shown:
                        _calls.switch_call(None)
                        shown = False
                try:
                    kwargs = self.kwargs(step)
                    if step.resource_args:
                        await resolve_async(step.resource_args, kwargs, self.run.resources)
                    memo = step.memo
                    if memo is None:
                        value = await step.fn(**kwargs)
                    else:
                        value = await self._through_memo(step, memo, kwargs, call is not None)
                        shown = True  # its wrapper's CallInfo may be current now
                except asyncio.CancelledError as exc:
                    if self.run.alive:
                        # The run cancels its tasks only once it is over: this is the node raising
                        # CancelledError itself (it awaited a future someone else cancelled), a
                        # failure of the node, not the run's cancellation.
                        self.step_failed(step, exc, _attempts(call))
                        return
                    raise
                except (Exception, SystemExit) as exc:
                    self.step_failed(step, exc, _attempts(call))
                    return
                following = self._done_then_next(i, value, 1 if call is None else call.attempt)
                if following is None:
                    return
                i, step = following
                inline += 1
                if inline % _CONTINUE_TURN == 0:
                    await asyncio.sleep(0)
        except BaseException as exc:
            run.escaped(exc)
            raise
        finally:
            run.unlist(asyncio.current_task())  # (Run.spawn_node)

    async def _through_memo(
        self, step: CallStep, memo: Memo, kwargs: dict[str, Any], has_call: bool
    ) -> Any:
        """A cached step's call (see ``asyncdag._memo``): a hit's value, or the node's own
        value, kept by the cache; the cache's wrapper, with a ``CallInfo`` current, when the
        memo cannot answer at once. ``has_call``: this task's context holds this call's
        ``CallInfo`` already."""
        found = await call_memo(memo, self.run.info, self.index, kwargs)
        if found is SLOW:
            if not has_call:
                _calls.enter_call(self.call_info(step))
            return await step.fn(**kwargs)
        return found

    def _done_then_next(self, i: int, value: Any, attempts: int) -> tuple[int, CallStep] | None:
        """``step_done``, keeping back one async step it unblocked for the caller to run."""
        run = self.run
        steps = self.block.steps
        if not run.alive:
            return None
        if self.ended:
            self.ended_meanwhile(steps[i], value, None, attempts)
            return None
        ready = self._complete(i, steps[i], value, attempts)
        if not ready:
            return None
        following: tuple[int, CallStep] | None = None
        for k, j in enumerate(ready):
            candidate = steps[j]
            if isinstance(candidate, CallStep) and candidate.is_async:
                following = (ready.pop(k), candidate)
                break
        if ready:
            self.launch_all(ready)
        return following  # its start is reported (or it is dropped) by the caller's loop

    # -- completions -------------------------------------------------------------------------

    def step_done(self, i: int, value: Any, attempts: int = 1) -> None:
        """Step ``i`` produced ``value``: store it and launch whatever it unblocked."""
        if not self.run.alive:
            return
        if self.ended:
            self.ended_meanwhile(self.block.steps[i], value, None, attempts)
            return
        ready = self._complete(i, self.block.steps[i], value, attempts)
        if ready:
            self.launch_all(ready)

    def chain_done(self, chain: tuple[int, ...], values: list[Any]) -> None:
        """The steps of ``chain`` (one thread hop) produced ``values``, in order."""
        if not self.run.alive:
            return
        steps = self.block.steps
        if self.ended:
            for i, value in zip(chain, values, strict=True):
                self.ended_meanwhile(steps[i], value, None, 1)
            return
        ready: list[int] = []
        for i, value in zip(chain, values, strict=True):
            ready = self._complete(i, steps[i], value, 1)
        if ready:
            self.launch_all(ready)

    def step_failed(self, step: Step, exc: BaseException, attempts: int = 1) -> None:
        """A node of this instance raised ``exc``: its error policy decides."""
        if not self.run.alive:
            return
        assert isinstance(step, CallStep | ExpandStep)
        if self.ended:
            self.ended_meanwhile(step, None, exc, attempts)
            return
        policy = step.on_error
        outcome = failed(step.name, policy, self.index, self.label(), exc)
        hooks = self.run.hooks
        if hooks is not None and hooks.after_node:
            error = outcome.error if isinstance(outcome, Raised) else outcome.failure.error
            self.node_finished(step, None, error, attempts)
        if isinstance(outcome, Raised):  # outside blocks (index ()) a failure is Raised
            self.run.fail(outcome.error)
            return
        self._release_streams(step)
        self.finish(outcome)  # an item's: its owner (an expansion, or a worker's run) decides

    def ended_meanwhile(
        self, step: Step, value: Any, error: BaseException | None, attempts: int
    ) -> None:
        """A call that began before another node's failure ended its item ends now: its
        ``run_after_node_execution`` closes the pair its start opened; nothing else of it
        counts (its value is dropped, its error ends nothing more). A streaming collector's
        streams give back what it left, as in ``_complete``."""
        hooks = self.run.hooks
        if hooks is not None and hooks.after_node and isinstance(step, CallStep | ExpandStep):
            self.node_finished(step, value, error, attempts)
        if isinstance(step, CallStep):
            for key in step.stream_keys:
                stream = self.values.get(key)
                if stream is not None:
                    stream.abandon()

    def _release_streams(self, failed: Step) -> None:
        """The item ends early: the streams that no collector of it will read any more (the
        failed step's, and those of collectors not started yet) give their window back."""
        steps, waits = self.block.steps, self.waits
        for i, step in enumerate(steps):
            if not isinstance(step, CallStep) or not step.stream_keys:
                continue
            if step is failed or waits[i] > 0:
                for key in step.stream_keys:
                    stream = self.values.get(key)
                    if stream is not None:
                        stream.abandon()

    def finish(self, outcome: Outcome) -> None:
        """This instance is over (its values are complete, or an error policy ended it)."""
        if self.ended:
            return
        self.ended = True
        if self.gates is not None:  # expansions waiting for values that will never come
            self.open_gates()
        self.on_done(self, outcome)

    def _complete(self, i: int, step: Step, value: Any, attempts: int) -> list[int]:
        if isinstance(step, CallStep):
            self.values[step.name] = value
            if self.gates is not None:
                self.open_gates()
            if step.emit:
                self._emit(step.name, value)
            hooks = self.run.hooks
            if hooks is not None and hooks.after_node:
                self.node_finished(step, value, None, attempts)
            if step.stream_keys:
                for key in step.stream_keys:
                    # a collector that returned without reading everything: what it left
                    # (and what is still to come) must not hold the expansion's window
                    self.values[key].abandon()
        ready: list[int] = []
        waits = self.waits
        for d in step.dependents:
            left = waits[d] - 1
            waits[d] = left
            if not left:
                ready.append(d)
        self.remaining -= 1
        if self.remaining == 0:
            self.finish(DONE)
        return ready

    def complete_expansion(self, done_step: int) -> None:
        """An expansion of this instance is over: its done step completes."""
        if not self.run.alive or self.ended:
            return
        ready = self._complete(done_step, self.block.steps[done_step], None, 1)
        if ready:
            self.launch_all(ready)

    def _emit(self, name: str, value: Any, index: tuple[int, ...] | None = None) -> None:
        """Report ``value`` of ``name`` to astream, at this item (or at ``index``, an item
        nested in it whose instance ran elsewhere)."""
        run = self.run
        if run.events is None:
            return
        at = self.index if index is None else index
        if not self.index:
            run.emit(name, at, value)
            return
        # The reader holds this item (and every item it is nested in) in its expansion's
        # window until it has read the event: a slow reader slows the run, not memory.
        chain: list[Instance] = []
        inst: Instance | None = self
        while inst is not None and inst.expansion is not None:
            inst.charged += 1
            chain.append(inst)
            inst = inst.parent

        def release() -> None:
            for item in chain:
                item.expansion.consumed(item.index[-1])

        run.emit(name, at, value, release)

    # -- gates -------------------------------------------------------------------------------

    async def wait_for_values(self, keys: tuple[str, ...]) -> None:
        """Until every key has a value here (an expansion's gate: what its block reads);
        raises :class:`ItemEnded` if this instance ends first."""
        values = self.values
        while any(k not in values for k in keys):
            if self.ended:
                raise ItemEnded(self.index)
            fut = self.run.loop.create_future()
            if self.gates is None:
                self.gates = []
            self.gates.append(fut)
            await fut

    def open_gates(self) -> None:
        gates, self.gates = self.gates, None
        for fut in gates or ():
            if not fut.done():
                fut.set_result(None)

    # -- hooks -------------------------------------------------------------------------------

    def node_started(self, step: CallStep | ExpandStep) -> None:
        """``run_before_node_execution`` for ``step`` of this instance, about to run here."""
        hooks = self.run.hooks
        assert hooks is not None
        if not hooks.before_node:
            return
        extra: dict[str, Any] = {}
        if hooks.node_inputs:
            try:
                extra["node_kwargs"] = self.kwargs(step)
            except KeyError:
                extra["node_kwargs"] = None
        _nodeevents.node_started(self.run, step, self.index, self.label(), self._ran_on(), **extra)

    def node_finished(
        self, step: CallStep | ExpandStep, result: Any, error: BaseException | None, attempts: int
    ) -> None:
        """``run_after_node_execution`` for ``step`` of this instance, which ran here."""
        hooks = self.run.hooks
        assert hooks is not None
        if hooks.after_node:
            _nodeevents.node_finished(
                self.run, step, self.index, self.label(), self._ran_on(), result, error, attempts
            )

    def relay(self, records: Iterable[Any]) -> None:
        """Fire the hooks of node calls of this item (or of items nested in it) that ran
        elsewhere: a thread hop, a worker process, a cluster."""
        if self.run.hooks is not None:
            _nodeevents.relay(self.run, self.block.calls_by_name(), records, self._shipped_to)

    def _ran_on(self) -> str:
        """The executor that runs this instance's sync steps."""
        return str(getattr(self.calls, "executor", ""))

    def _shipped_to(self) -> str:
        """The executor that ran this instance as a whole (relayed calls)."""
        if self.expansion is not None:
            return str(self.expansion.dispatch.executor)
        return self._ran_on()


async def call_memo(
    memo: Memo, run: _calls.RunInfo, index: tuple[int, ...], kwargs: dict[str, Any]
) -> Any:
    """An async cached call through its memo (``asyncdag._memo``): a hit's value, or the
    node's own value, kept by the cache; :data:`SLOW` when only the cache's wrapper can
    answer (the caller calls it, with the call's ``CallInfo`` current)."""
    key, found = memo.look(run, index, kwargs)
    if found is MISS:
        try:
            value = await memo.fn(**kwargs)
        except Exception as exc:
            memo.failed(run, index, key, exc)
            raise
        if memo.keep(run, index, key, value):
            await memo.settle()
        return value
    return found


#: steps an async step's task runs in a row before it yields a loop turn
_CONTINUE_TURN = 32


def _attempts(call: _calls.CallInfo | None) -> int:
    return call.attempt if call is not None else 1
