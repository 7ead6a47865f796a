"""The run: instances, steps, and who owns each task.

Ownership and bounds
--------------------
- A ``Run`` owns every asyncio task started for one ``aexecute`` call (``Run.spawn``): async
  node calls, expansions (one task each, driving one generator), and nothing else. Sync node
  calls are futures on an executor's thread pool or process pool, tracked the same way.
- An ``Instance`` is one block instance (the root of the run is one too). It is driven by
  callbacks, not by a coroutine of its own: when a step completes, the steps waiting on it are
  launched at once. An instance with only sync steps on a thread executor runs as one hop.
- Bounds: the remote executor's ``max_tasks`` limiter is held by each top-level block instance
  while it runs (nested instances run inside their parent's slot, so they cannot deadlock it);
  each expansion's window bounds items yielded but not yet consumed (see ``_fanout``).

Errors and cancellation
-----------------------
The first exception from user code is wrapped in ``NodeExecutionError`` (node, index path,
``__cause__``) and fails the run: ``Run.fail`` records it and cancels every task of the run;
expansions close their generators in ``finally``. ``Run.wait`` then waits for all tasks to
finish (cleanup is shielded from further cancellation) and raises the failure. Cancelling the
awaiting task does the same and re-raises the cancellation untouched. Thread work cannot be
interrupted: its result is dropped when it arrives.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from asyncdag._calls import RunInfo
from asyncdag.errors import AsyncDagError, NodeExecutionError, NodeTimeoutError
from asyncdag.execution._plan import BlockPlan, Step, StepKind
from asyncdag.execution._resources import ResourceCache, ResourceRef
from asyncdag.htypes import ItemFailure
from asyncdag.lifecycle._hooks import HookSet
from asyncdag.policies import FAIL, SKIP

if TYPE_CHECKING:
    from asyncdag.execution.executors import TaskExecutor

__all__ = ["Instance", "Run", "call_sync_step"]

Event = tuple[str, tuple[int, ...], Any]

logger = logging.getLogger("asyncdag")


class Run:
    """State of one run: its tasks, its failure, its executors, its event sink."""

    __slots__ = (
        "_finished",
        "_tasks",
        "alive",
        "events",
        "failure",
        "group_blocks",
        "hooks",
        "info",
        "inline_blocks",
        "inline_sync",
        "local",
        "loop",
        "remote",
        "resources",
        "run_id",
        "slots",
        "window",
    )

    def __init__(
        self,
        local: TaskExecutor,
        remote: TaskExecutor,
        *,
        inline_sync: bool,
        inline_blocks: bool = False,
        window: int,
        events: Callable[[Event], None] | None = None,
        group_blocks: bool = True,
        resources: ResourceCache | None = None,
        hooks: HookSet | None = None,
        run_id: str = "",
    ) -> None:
        self.group_blocks = group_blocks
        self.hooks = hooks if hooks else None
        self.run_id = run_id
        self.info = RunInfo(run_id)
        self.resources = resources if resources is not None else ResourceCache()
        self.loop = asyncio.get_running_loop()
        self.local = local
        self.remote = remote
        # execute() with the default executors: sync code runs in the private loop's thread
        self.inline_sync = inline_sync  # for nodes outside blocks
        self.inline_blocks = inline_blocks  # for block instances
        self.window = window
        self.events = events
        self.failure: BaseException | None = None
        self.alive = True  # no failure, no cancellation: read on every step, so a plain field
        self.slots = 0  # slots of the remote executor's limiter this run holds
        self._tasks: set[asyncio.Future[Any]] = set()
        self._finished: asyncio.Future[None] = self.loop.create_future()

    # -- tasks ---------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Start a task of the run; an exception escaping it fails the run."""
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def track(self, fut: asyncio.Future[Any]) -> None:
        """Keep a future (thread or process work) cancellable with the run.

        Its outcome is handled by the callback its owner adds, which names the node.
        """
        self._tasks.add(fut)
        fut.add_done_callback(self._tasks.discard)

    def _task_done(self, fut: asyncio.Future[Any]) -> None:
        self._tasks.discard(fut)
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is not None:
            self.fail(exc)

    def fail(self, exc: BaseException) -> None:
        """Record the first failure and cancel everything else in the run."""
        if self.failure is not None:
            return
        self.failure = exc
        self.alive = False
        self.info.cancelled = True
        for t in list(self._tasks):
            t.cancel()
        if not self._finished.done():
            self._finished.set_result(None)

    def finish(self) -> None:
        if not self._finished.done():
            self._finished.set_result(None)

    async def wait(self) -> None:
        """Wait for the root instance; on failure or cancellation, leave nothing running."""
        try:
            await self._finished
        except BaseException:
            if self.failure is None:
                self.failure = asyncio.CancelledError()
                self.alive = False
            self.info.cancelled = True
            await self._drain()
            raise
        if self.failure is not None:
            await self._drain()
            raise self.failure
        if self._tasks:
            await self._settle()

    async def _settle(self) -> None:
        """After success: let the tasks still listed end on their own (not cancelled).

        Usually it is only the task that completed the root, returning, or an expansion
        closing its generator; a few loop turns see them out, without gather and shield.
        """
        try:
            for _ in range(3):
                await asyncio.sleep(0)
                if not self._tasks:
                    return
            while self._tasks:
                await asyncio.wait(list(self._tasks))
        except BaseException:
            if self.failure is None:
                self.failure = asyncio.CancelledError()
                self.alive = False
            await self._drain()
            raise
        if self.failure is not None:  # a task failed while closing
            raise self.failure

    async def take_slot(self) -> None:
        """Take one of the remote executor's ``max_tasks`` slots for a task of this run."""
        if not self.remote.try_acquire():  # the common case costs no await
            await self.remote.acquire()
        self.slots += 1

    def give_slot(self) -> None:
        self.slots -= 1
        self.remote.release()

    async def _drain(self) -> None:
        # Shielded: the cleanup must finish even when the caller is being cancelled again.
        for t in list(self._tasks):
            t.cancel()
        pending = [t for t in self._tasks if isinstance(t, asyncio.Task)]
        cancelled_again = False
        if pending:
            waiter = asyncio.gather(*pending, return_exceptions=True)
            # The cleanup must finish even if the caller is cancelled again meanwhile (anyio
            # scopes re-deliver cancellation on every await): wait it out, then re-raise.
            while not waiter.done():
                try:
                    await asyncio.shield(waiter)
                except asyncio.CancelledError:
                    cancelled_again = True
        # Slots of instances that were cut short: the executor is shared with other runs.
        while self.slots > 0:
            self.give_slot()
        if cancelled_again:
            raise asyncio.CancelledError()

    def emit(self, name: str, index: tuple[int, ...], value: Any) -> None:
        if self.events is not None:
            self.events((name, index, value))

    def record_failure(self, failure: ItemFailure) -> None:
        """An item ended under a skip/deliver error policy: log it and report it."""
        logger.warning(
            "node %r failed at item %s (%s: %s); the item is %s by its error policy",
            failure.node,
            failure.index,
            type(failure.error).__name__,
            failure.error,
            "skipped" if failure.policy == SKIP else "delivered as an ItemFailure",
        )
        if self.events is not None:
            self.events((failure.node, failure.index, failure))

    # -- hooks ---------------------------------------------------------------------------

    def hook(self, name: str, **kwargs: Any) -> None:
        assert self.hooks is not None
        self.hooks.call(name, self.spawn, run_id=self.run_id, **kwargs)

    def node_hook_before(self, step: Step, index: tuple[int, ...]) -> None:
        assert step.node is not None and self.hooks is not None
        if not self.hooks.before_node:
            return
        self.hook(
            "run_before_node_execution",
            node_name=step.name,
            node_tags=dict(step.node.tags),
            index=index,
            task_id=_task_id(index),
        )

    def node_hook_after(
        self, step: Step, index: tuple[int, ...], result: Any, error: BaseException | None
    ) -> None:
        assert step.node is not None and self.hooks is not None
        if not self.hooks.after_node:
            return
        self.hook(
            "run_after_node_execution",
            node_name=step.name,
            node_tags=dict(step.node.tags),
            index=index,
            task_id=_task_id(index),
            result=result,
            error=error,
            success=error is None,
        )


def _task_id(index: tuple[int, ...]) -> str | None:
    return "/".join(map(str, index)) if index else None


def node_error(step: Step, index: tuple[int, ...], exc: BaseException) -> BaseException:
    """Wrap a user exception, naming the node and item; asyncdag's own errors pass through."""
    if isinstance(exc, AsyncDagError | asyncio.CancelledError):
        return exc
    kind = NodeTimeoutError if isinstance(exc, TimeoutError) else NodeExecutionError
    err = kind(step.name, index, f"{type(exc).__name__}: {exc}")
    err.__cause__ = exc
    return err


def call_sync_step(
    step: Step,
    values: dict[str, Any],
    lookup: Callable[[int, str], Any],
    resources: ResourceCache,
) -> Any:
    kwargs = {kw: (values[key] if lvl == 0 else lookup(lvl, key)) for kw, lvl, key in step.args}
    if step.resource_args:
        resolve_resources(step, kwargs, resources)
    assert step.fn is not None
    return step.fn(**kwargs)


def resolve_resources(step: Step, kwargs: dict[str, Any], resources: ResourceCache) -> None:
    """Swap the per-worker recipes a step reads for the objects of this place (sync ones)."""
    for kw in step.resource_args:
        ref = kwargs[kw]
        if isinstance(ref, ResourceRef) and not (ref.is_async and step.is_async):
            kwargs[kw] = resources.get(ref)


async def aresolve_resources(step: Step, kwargs: dict[str, Any], resources: ResourceCache) -> None:
    for kw in step.resource_args:
        ref = kwargs[kw]
        if isinstance(ref, ResourceRef):
            kwargs[kw] = await resources.aget(ref)


class Instance:
    """One block instance: its values, its waits, and what to do when it is complete."""

    __slots__ = (
        "block",
        "failed",
        "gates",
        "index",
        "on_done",
        "parent",
        "prefilled",
        "remaining",
        "run",
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
        on_done: Callable[[Instance], None],
    ) -> None:
        self.run = run
        self.block = block
        self.values = values
        self.parent = parent
        self.index = index
        self.on_done = on_done
        self.waits = list(block.initial_waits)
        self.remaining = len(block.steps)
        self.prefilled: dict[int, Any] | None = None
        self.failed: ItemFailure | None = None  # set when an error policy ended this item
        self.gates: list[asyncio.Future[None]] | None = None  # expansions waiting for values

    def lookup(self, levels: int, key: str) -> Any:
        inst: Instance | None = self
        for _ in range(levels):
            assert inst is not None
            inst = inst.parent
        assert inst is not None
        return inst.values[key]

    def kwargs(self, step: Step) -> dict[str, Any]:
        values = self.values
        kwargs = {
            kw: (values[key] if lvl == 0 else self.lookup(lvl, key)) for kw, lvl, key in step.args
        }
        if step.resource_args:
            resolve_resources(step, kwargs, self.run.resources)
        return kwargs

    # -- driving -------------------------------------------------------------------------

    def start(self) -> None:
        if not self.block.steps:
            self.on_done(self)
            return
        self._launch_all(self.block.ready)

    def _launch_all(self, indices: Any) -> None:
        # A worklist rather than recursion: long chains of inline steps must not grow the stack.
        work = list(indices)
        steps = self.block.steps
        while work and self.run.alive:
            i = work.pop()
            step = steps[i]
            result = self._launch(i, step)
            if result is _PENDING:
                continue
            for d in self._complete(i, step, result):
                work.append(d)

    def _launch(self, i: int, step: Step) -> Any:
        kind = step.kind
        if kind is StepKind.CALL:
            if self.run.hooks is not None and self.run.hooks.nodes and step.node is not None:
                self.run.node_hook_before(step, self.index)
            if step.is_async:
                self.run.spawn(self._run_async(i, step))
                return _PENDING
            prefilled = self.prefilled
            if prefilled is not None and i in prefilled and not step.is_async:
                return prefilled.pop(i)  # already computed in its chain's thread hop
            executor = self._executor()
            if step.needs_thread:
                call = functools.partial(_call_kwargs, step.fn, self.kwargs(step))
                fut = self.run.loop.run_in_executor(None, contextvars.copy_context().run, call)
                self.run.track(fut)
                fut.add_done_callback(lambda f: self._sync_done(f, i, step))
                return _PENDING
            if self._inline():
                try:
                    return call_detached(step.fn, self.kwargs(step))
                except Exception as exc:
                    self.node_failed(step, exc)
                    return _PENDING
            if step.chain and not executor.remote:
                fut = executor.submit_sync(self.run.loop, self._run_chain, step.chain)
                self.run.track(fut)
                fut.add_done_callback(lambda f: self._chain_done(f, step.chain))
                return _PENDING
            fut = executor.submit_sync(self.run.loop, step.fn, **self.kwargs(step))  # type: ignore[arg-type]
            self.run.track(fut)
            fut.add_done_callback(lambda f: self._sync_done(f, i, step))
            return _PENDING
        if kind is StepKind.EXPAND:
            from asyncdag.execution._fanout import Expansion

            Expansion(self, i, step).start()
            return _PENDING
        return _PENDING  # EXPAND_DONE: completed by its expansion

    def _run_chain(self, chain: tuple[int, ...]) -> list[Any]:
        # On a worker thread: each step reads the previous one's value from a local overlay.
        steps, values, out = self.block.steps, self.values, []
        overlay: dict[str, Any] = {}
        for i in chain:
            step = steps[i]
            kwargs = {
                kw: (
                    overlay[key]
                    if key in overlay
                    else values[key]
                    if lvl == 0
                    else self.lookup(lvl, key)
                )
                for kw, lvl, key in step.args
            }
            if step.resource_args:
                resolve_resources(step, kwargs, self.run.resources)
            try:
                value = step.fn(**kwargs)  # type: ignore[misc]
            except Exception as exc:
                raise node_error(step, self.index, exc)  # noqa: B904 - node_error sets __cause__
            overlay[step.name] = value
            out.append(value)
        return out

    def _chain_done(self, fut: asyncio.Future[Any], chain: tuple[int, ...]) -> None:
        if fut.cancelled() or not self.run.alive:
            return
        exc = fut.exception()
        if exc is not None:
            failed = next((s for s in self.block.steps if s.name == getattr(exc, "node", "")), None)
            self.node_failed(failed, exc)
            return
        try:
            results = fut.result()
            self.prefilled = dict(zip(chain[1:], results[1:], strict=True))
            self.complete(chain[0], results[0])
        except BaseException as err:  # a callback must never swallow an error: fail the run
            self.run.fail(err)

    def _executor(self) -> TaskExecutor:
        return self.run.local if not self.block.scope else self.run.remote

    def _inline(self) -> bool:
        if not self.block.scope:
            return self.run.inline_sync or self.run.local.sequential
        return self.run.inline_blocks or self.run.remote.sequential or self.run.remote.remote

    async def _run_async(self, i: int, step: Step) -> None:
        try:
            kwargs = self.kwargs(step)
            if step.resource_args:
                await aresolve_resources(step, kwargs, self.run.resources)
            value = await step.fn(**kwargs)  # type: ignore[misc]
        except Exception as exc:
            self.node_failed(step, exc)
            return
        self.complete(i, value)

    def _sync_done(self, fut: asyncio.Future[Any], i: int, step: Step) -> None:
        if fut.cancelled() or not self.run.alive:
            return
        exc = fut.exception()
        if exc is not None:
            self.node_failed(step, exc)
            return
        try:
            self.complete(i, fut.result())
        except BaseException as err:  # a callback must never swallow an error: fail the run
            self.run.fail(err)

    def complete(self, i: int, value: Any) -> None:
        """Step ``i`` produced ``value``: store it and launch whatever it unblocked."""
        if not self.run.alive or self.failed is not None:
            return
        ready = self._complete(i, self.block.steps[i], value)
        if ready:
            self._launch_all(ready)

    async def run_single_async(self) -> None:
        """The whole instance when its block is one async node (the common per-item shape):
        the same as ``start()``, without the step bookkeeping around a lone step."""
        step = self.block.steps[0]
        try:
            kwargs = self.kwargs(step)
            if step.resource_args:
                await aresolve_resources(step, kwargs, self.run.resources)
            value = await step.fn(**kwargs)  # type: ignore[misc]
        except Exception as exc:
            self.node_failed(step, exc)
            return
        if not self.run.alive or self.failed is not None:
            return
        self.values[step.name] = value
        if step.emit:
            self.run.emit(step.name, self.index, value)
        self.remaining = 0
        self.on_done(self)

    def node_failed(self, step: Step | None, exc: BaseException) -> None:
        """A node of this instance raised: apply its error policy, or fail the run."""
        if not self.run.alive or self.failed is not None:
            return
        err = node_error(step, self.index, exc) if step is not None else exc
        hooks = self.run.hooks
        if hooks is not None and hooks.nodes and step is not None and step.node is not None:
            self.run.node_hook_after(step, self.index, None, err)
        policy = step.on_error if step is not None else FAIL
        if policy == FAIL or self.parent is None or not isinstance(err, NodeExecutionError):
            self.run.fail(err)
            return
        cause = err.__cause__ if err.__cause__ is not None else err
        assert step is not None
        self.fail_item(ItemFailure(step.name, self.index, cause, policy))

    def fail_item(self, failure: ItemFailure) -> None:
        """This block instance ends without values (skip) or with the failure (deliver)."""
        if self.failed is not None:
            return
        self.failed = failure
        self.run.record_failure(failure)
        self.on_done(self)

    async def wait_for_values(self, keys: tuple[str, ...]) -> None:
        """Until every key has a value here (an expansion's gate: what its block reads)."""
        values = self.values
        while any(k not in values for k in keys):
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

    def _complete(self, i: int, step: Step, value: Any) -> list[int]:
        if step.kind is StepKind.CALL:
            self.values[step.name] = value
            if self.gates is not None:
                self.open_gates()
            if step.emit:
                self.run.emit(step.name, self.index, value)
            if self.run.hooks is not None and self.run.hooks.nodes and step.node is not None:
                self.run.node_hook_after(step, self.index, value, None)
            for key in step.stream_keys:
                # a collector that returned without reading everything: what it left (and
                # what is still to come) must not hold the expansion's window
                self.values[key].abandon()
        ready: list[int] = []
        waits = self.waits
        for d in step.dependents:
            waits[d] -= 1
            if waits[d] == 0:
                ready.append(d)
        self.remaining -= 1
        if self.remaining == 0:
            self.on_done(self)
        return ready


def call_detached(fn: Callable[..., Any] | None, kwargs: dict[str, Any]) -> Any:
    """Call sync user code on the loop's thread as if no loop were running.

    Inline sync nodes (``execute()``, the inline executor) are plain blocking code, as in
    Hamilton; some of them call ``asyncio.run()`` themselves, which refuses to start while the
    thread has a running loop. The loop is suspended meanwhile anyway, so hide it for the call.
    """
    assert fn is not None
    loop = asyncio._get_running_loop()
    asyncio._set_running_loop(None)
    try:
        return fn(**kwargs)
    finally:
        asyncio._set_running_loop(loop)


def _call_kwargs(fn: Callable[..., Any] | None, kwargs: dict[str, Any]) -> Any:
    assert fn is not None
    return fn(**kwargs)


class _Pending:
    __slots__ = ()


_PENDING = _Pending()


def run_block_sync(
    block: BlockPlan,
    values: dict[str, Any],
    lookup: Callable[[int, str], Any],
    index: tuple[int, ...],
    resources: ResourceCache,
) -> dict[str, Any]:
    """Run an all-sync block instance in the current thread, steps in plan order."""
    for step in block.steps:
        try:
            values[step.name] = call_sync_step(step, values, lookup, resources)
        except Exception as exc:
            raise node_error(step, index, exc)  # noqa: B904 - node_error sets __cause__
    return values


def run_item_sync(
    block: BlockPlan,
    values: dict[str, Any],
    lookup: Callable[[int, str], Any],
    index: tuple[int, ...],
    resources: ResourceCache,
) -> ItemFailure | None:
    """:func:`run_block_sync` for one item off the loop, with error policies applied: the
    :class:`ItemFailure` when the failing node's policy ends only this item; a failure under
    the ``fail`` policy propagates."""
    try:
        run_block_sync(block, values, lookup, index, resources)
    except NodeExecutionError as exc:
        step = next((s for s in block.steps if s.name == exc.node), None)
        policy = step.on_error if step is not None else FAIL
        if policy == FAIL:
            raise
        cause = exc.__cause__ if exc.__cause__ is not None else exc
        return ItemFailure(exc.node, index, cause, policy)
    return None
