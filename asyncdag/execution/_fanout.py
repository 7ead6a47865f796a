"""Expansion: a Parallelizable generator consumed as a bounded stream.

Who owns what
-------------
- One ``Expansion`` per expander step of an instance; it owns one task of the run (``_drive``),
  which owns the generator: it advances it, dispatches each item's block instance the moment
  the item arrives, and closes the generator in ``finally`` (``aclose()`` for async ones).
- A sync generator (or any blocking iterator) is advanced by a ``ThreadPump`` (``_streams``):
  one daemon thread per expansion, which hands items to the loop through a deque; a wake-up is
  scheduled only when the loop is not already due to drain it, so a fast generator is batched
  for free and a slow one is delivered item by item, with no timer.

Bounds
------
- The window: items yielded but not yet consumed by every collector. Before asking the
  generator for an item, the driver takes one credit; the credit comes back when the item's
  instance is done and every streaming collector has taken its value (list collectors take it
  at once). A thread pump takes credits from a ``threading.Semaphore`` before each ``next()``.
- ``max_tasks``: a top-level block instance holds a slot of the remote executor's limiter while
  it runs. Nested instances run in their parent's slot.

Errors and cancellation
-----------------------
A generator that raises fails the run with ``NodeExecutionError`` naming the expander and the
instance's index. On cancel, ``_drive`` closes the generator; a thread pump is told to stop and
closes its generator in its own thread after the current ``next()`` returns.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from asyncdag.execution._plan import Step, StepKind
from asyncdag.execution._scheduler import (
    Instance,
    aresolve_resources,
    call_detached,
    node_error,
    run_block_sync,
)
from asyncdag.execution._streams import SKIPPED as _SKIPPED
from asyncdag.execution._streams import Stream as _Stream
from asyncdag.execution._streams import ThreadPump as _ThreadPump
from asyncdag.execution._threadbatch import ThreadHops
from asyncdag.policies import DELIVER

__all__ = ["Expansion"]

_MATERIALIZED = (list, tuple, range, dict, set, frozenset, str, bytes)
#: the key a worker uses for an item that its error policy ended
FAILED_KEY = "\0failed"


class Expansion:
    __slots__ = (
        "_credit",
        "_credit_waiter",
        "_hops",
        "_pending",
        "_pump",
        "_sender",
        "_sender_waiter",
        "batched",
        "block",
        "count",
        "done",
        "exhausted",
        "gated",
        "hop_each",
        "lists",
        "needs_slot",
        "outstanding",
        "parent",
        "run",
        "sequential",
        "single_async",
        "skipped",
        "step",
        "step_index",
        "streams",
        "unconsumed",
    )

    def __init__(self, parent: Instance, step_index: int, step: Step) -> None:
        assert step.child is not None
        self.parent = parent
        self.run = parent.run
        self.step = step
        self.step_index = step_index
        self.block = step.child
        self.lists: dict[str, list[Any]] = {k: [] for k in self.block.list_sinks}
        self.streams: list[tuple[str, _Stream]] = []
        self.unconsumed: dict[int, int] = {}
        self.count = 0
        self.outstanding = 0
        self.skipped = 0  # items left out by a skip error policy
        self.exhausted = False
        self.done = False
        self._credit = self.run.window
        self._credit_waiter: asyncio.Future[None] | None = None
        self._pump: _ThreadPump | None = None
        run, block = self.run, self.block
        top = not parent.block.scope
        # Top-level instances go out in batches when they leave the loop anyway: to another
        # process, or (all-sync blocks) to a thread, where a hop costs more than cheap work.
        self.batched = top and (
            run.remote.remote
            or (
                run.remote.threaded
                and block.all_sync
                and bool(block.steps)
                and run.group_blocks
                and not run.inline_blocks
            )
        )
        self.gated = bool(step.gate_keys)
        remote = run.remote
        self.sequential = remote.sequential
        # a top-level instance holds a max_tasks slot while it runs (batches hold their own)
        self.needs_slot = top and remote.limited and not self.batched
        # an all-sync instance nested in a block goes to a thread in one hop of its own
        self.hop_each = (
            not self.batched
            and block.all_sync
            and bool(block.steps)
            and remote.threaded
            and run.group_blocks
            and not run.inline_blocks
        )
        steps = block.steps
        self.single_async = (
            len(steps) == 1
            and steps[0].kind is StepKind.CALL
            and steps[0].is_async
            and not steps[0].stream_keys
        )
        self._pending: deque[Instance] = deque()  # threads pop from it: deque is thread-safe
        self._hops = ThreadHops(run, block) if self.batched and not run.remote.remote else None
        self._sender: asyncio.Task[None] | None = None
        self._sender_waiter: asyncio.Future[None] | None = None

    def start(self) -> None:
        for child_key, parent_key, ordered in self.block.stream_sinks:
            stream = _Stream(self, ordered)
            self.streams.append((child_key, stream))
            self.parent.values[parent_key] = stream
        self.run.spawn(self._drive())
        # Streaming collectors may start now; list collectors wait for the EXPAND_DONE step.
        self.parent.complete(self.step_index, None)

    # -- the generator -------------------------------------------------------------------

    async def _open(self) -> Any:
        step, parent = self.step, self.parent
        if step.overridden_items:
            return parent.lookup(len(parent.block.scope), step.name)
        kwargs = parent.kwargs(step)
        assert step.fn is not None
        if step.is_async:
            if step.resource_args:
                await aresolve_resources(step, kwargs, self.run.resources)
            result = step.fn(**kwargs)
            if hasattr(result, "__await__"):
                result = await result
            return result
        node = step.node
        if parent._inline() or (node and _is_generator_function(node.callable)):
            return call_detached(step.fn, kwargs)
        executor = parent._executor()
        return await executor.submit_sync(self.run.loop, step.fn, **kwargs)

    async def _drive(self) -> None:
        source: Any = None
        run, step = self.run, self.step
        hooked = run.hooks is not None and run.hooks.nodes and step.node is not None
        if hooked:  # an expander's call lasts until its generator is exhausted
            run.node_hook_before(step, self.parent.index)
        try:
            try:
                source = await self._open()
            except Exception as exc:
                raise node_error(self.step, self.parent.index, exc)  # noqa: B904
            if hasattr(source, "__aiter__"):
                await self._drive_async(source.__aiter__())
            elif isinstance(source, _MATERIALIZED) or self.parent._executor().sequential:
                await self._drive_inline(iter(source))
            elif isinstance(source, Iterable):
                self._pump = _ThreadPump(self, iter(source))
                await self._pump.drain()
            else:
                raise TypeError(
                    f"expander {self.step.name!r} returned {type(source).__name__}, which is not"
                    " iterable; yield the items, or return a list or an async iterable"
                )
            self.exhausted = True
            if hooked:
                run.node_hook_after(step, self.parent.index, self.count, None)
            if self._sender is not None:
                self._wake_sender()
            self._maybe_done()
        except Exception as exc:
            err = node_error(self.step, self.parent.index, exc)
            if hooked and not self.exhausted:
                run.node_hook_after(step, self.parent.index, None, err)
            raise err  # noqa: B904
        finally:
            if self._pump is not None:
                self._pump.stop()
            elif source is not None:
                await _close(source)

    async def _drive_async(self, it: AsyncIterator[Any]) -> None:
        while self.run.alive:
            if self._credit > 0:
                self._credit -= 1
            else:
                await self._take_credit()
            try:
                item = await it.__anext__()
            except StopAsyncIteration:
                self._credit += 1
                return
            if not self._dispatch_now(item):
                await self._dispatch(item)

    async def _drive_inline(self, it: Iterator[Any]) -> None:
        sentinel = object()
        while self.run.alive:
            if self._credit > 0:
                self._credit -= 1
            else:
                await self._take_credit()
            item = next(it, sentinel)
            if item is sentinel:
                self._credit += 1
                return
            if not self._dispatch_now(item):
                await self._dispatch(item)

    async def _take_credit(self) -> None:
        while self._credit <= 0:
            waiter = self._credit_waiter = self.run.loop.create_future()
            await waiter
        self._credit -= 1

    def _give_credit(self) -> None:
        if self._pump is not None:
            self._pump.give_credit()
            return
        self._credit += 1
        waiter = self._credit_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- items ---------------------------------------------------------------------------

    def _dispatch_now(self, item: Any) -> bool:
        """Dispatch ``item`` if nothing has to be awaited first (the common case, and no
        coroutine per item); ``False``: the caller awaits :meth:`_dispatch` instead."""
        if self.gated or self.sequential:
            return False
        if self.needs_slot:
            if not self.run.remote.try_acquire():
                return False
            self.run.slots += 1
        self._start_child(self._new_child(item))
        return True

    async def _dispatch(self, item: Any) -> None:
        run, parent = self.run, self.parent
        if self.gated:  # the first item waits for the outer values its block reads
            await parent.wait_for_values(self.step.gate_keys)
            self.gated = False
        if self.needs_slot:
            await run.take_slot()
        child = self._new_child(item)
        if self.sequential:
            waiter: asyncio.Future[None] = run.loop.create_future()

            def done(c: Instance) -> None:
                self._child_done(c)
                waiter.set_result(None)

            child.on_done = done
            child.start()
            await waiter
        else:
            self._start_child(child)

    def _new_child(self, item: Any) -> Instance:
        run, parent = self.run, self.parent
        i = self.count
        self.count = i + 1
        for lst in self.lists.values():
            lst.append(None)
        index = (*parent.index, i)
        child = Instance(run, self.block, {self.step.name: item}, parent, index, self._child_done)
        self.outstanding += 1
        hooks = run.hooks
        if hooks is not None:
            if hooks.item_yielded:
                run.hook("run_after_item_yielded", expander=self.step.name, index=index)
            if hooks.before_task:
                run.hook(
                    "run_before_task_execution",
                    task_id="/".join(map(str, index)),
                    expander=self.step.name,
                    index=index,
                )
        return child

    def _start_child(self, child: Instance) -> None:
        if self.batched:
            self._pending.append(child)  # the sender takes a slot and ships it in a batch
            self._wake_sender()
        elif self.single_async and self.run.hooks is None:
            self.run.spawn(child.run_single_async())
        elif self.hop_each:
            run = self.run
            fut = run.remote.submit_sync(
                run.loop,
                run_block_sync,
                self.block,
                child.values,
                child.lookup,
                child.index,
                run.resources,
            )
            run.track(fut)
            fut.add_done_callback(lambda f: self._remote_done(f, child))
        else:
            child.start()

    def _remote_done(self, fut: asyncio.Future[Any], child: Instance) -> None:
        if fut.cancelled() or not self.run.alive:
            return
        exc = fut.exception()
        if exc is not None:
            # an all-sync block run in one hop: the node it names decides (error policy)
            failed = next((s for s in self.block.steps if s.name == getattr(exc, "node", "")), None)
            child.node_failed(failed, exc)
            return
        try:
            child.values.update(fut.result())
            if self.run.events is not None:
                for step in self.block.steps:
                    if step.emit:
                        self.run.emit(step.name, child.index, child.values[step.name])
            self._child_done(child)
        except BaseException as err:  # a callback must never swallow an error: fail the run
            self.run.fail(err)

    def _child_done(self, child: Instance) -> None:
        run = self.run
        if not run.alive:
            return
        i = child.index[-1]
        failed = child.failed
        if failed is None:
            values = child.values
            for key, lst in self.lists.items():
                lst[i] = values[key]
        else:
            values = {}
            marker: Any = failed if failed.policy == DELIVER else _SKIPPED
            if marker is _SKIPPED:
                self.skipped += 1
            for lst in self.lists.values():
                lst[i] = marker
        if self.needs_slot:
            run.give_slot()
        self.outstanding -= 1
        if run.hooks is not None and run.hooks.after_task:
            run.hook(
                "run_after_task_execution",
                task_id="/".join(map(str, child.index)),
                expander=self.step.name,
                index=child.index,
                success=failed is None,
                error=failed.error if failed is not None else None,
            )
        if self.streams:
            self.unconsumed[i] = len(self.streams)
            for key, stream in self.streams:
                if failed is None:
                    stream.put(i, values[key])
                elif failed.policy == DELIVER:
                    stream.put(i, failed)
                else:
                    stream.skip(i)
        else:
            self._give_credit()
        self._maybe_done()

    # -- remote batches ----------------------------------------------------------------------

    def _wake_sender(self) -> None:
        if self._sender is None:
            self._sender = self.run.spawn(self._send_batches())
            return
        waiter = self._sender_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _send_batches(self) -> None:
        # Owns the shipping of this expansion's items off the loop: one slot of the executor's
        # limiter per batch (processes) or per thread hop; items that arrive while all slots
        # are taken form the next batch.
        run, remote, loop = self.run, self.run.remote, self.run.loop
        hops = self._hops
        while run.alive:
            # a hop that has not started yet will take at least one pending item
            while len(self._pending) <= (hops.waiting if hops is not None else 0):
                if self.exhausted and not self._pending:
                    return
                self._sender_waiter = loop.create_future()
                await self._sender_waiter
            await run.take_slot()
            await asyncio.sleep(0)  # let items yielded back to back join this batch
            if hops is not None:
                hops.started()
                run.spawn(self._run_hop(hops))
                continue
            size = min(remote.batch_size(self.block), len(self._pending))
            batch = [self._pending.popleft() for _ in range(size)]
            run.spawn(self._run_batch(batch))

    async def _run_hop(self, hops: ThreadHops) -> None:
        run = self.run
        try:
            done, events = await hops.hop(self._pending)
        finally:
            run.give_slot()
            self._wake_sender()  # items may be left for a new hop
        for name, index, value in events:
            run.emit(name, index, value)
        self._deliver(done)

    async def _run_batch(self, batch: list[Instance]) -> None:
        run, remote = self.run, self.run.remote
        try:
            outs, events = await remote.run_batch(
                self.block, self.parent, batch, events=run.events is not None
            )
        finally:
            run.give_slot()
        for name, index, value in events:
            run.emit(name, index, value)
        self._deliver(zip(batch, outs, strict=True))

    def _deliver(self, done: Iterable[tuple[Instance, dict[str, Any]]]) -> None:
        for child, out in done:
            failure = out.get(FAILED_KEY)
            if failure is not None:  # ended off the loop by its error policy
                child.fail_item(failure)
                continue
            if out is not child.values:
                child.values.update(out)
            self._child_done(child)

    def consumed(self, i: int) -> None:
        left = self.unconsumed[i] - 1
        if left:
            self.unconsumed[i] = left
        else:
            del self.unconsumed[i]
            self._give_credit()

    def _maybe_done(self) -> None:
        if self.done or not self.exhausted or self.outstanding:
            return
        self.done = True
        for key, lst in self.lists.items():
            if self.skipped:
                lst = [v for v in lst if v is not _SKIPPED]
            self.parent.values[key] = lst
        if self.parent.gates is not None:
            self.parent.open_gates()
        run = self.run
        if run.hooks is not None and run.hooks.expansion:
            run.hook(
                "run_after_expansion",
                expander=self.step.name,
                index=self.parent.index,
                items=self.count,
            )
        for _, stream in self.streams:
            stream.close(self.count)
        self.parent.complete(self.step.done_step, None)


def _is_generator_function(fn: Any) -> bool:
    import inspect

    return inspect.isgeneratorfunction(inspect.unwrap(fn))


async def _close(source: Any) -> None:
    aclose = getattr(source, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:  # a generator failing while closing must not hide the real error
            pass
        return
    close = getattr(source, "close", None)
    if close is not None and not isinstance(source, _MATERIALIZED):
        try:
            close()
        except Exception:
            pass
