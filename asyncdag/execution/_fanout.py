"""Expansion: a Parallelizable consumed as a bounded stream, item by item.

One item's trip: the drive loop takes a window credit, gets the item from the source,
waits at the gate for the outer values the block reads (first item only), asks the
dispatch to admit one more instance (``max_tasks``), makes the child :class:`Instance` and
starts it through the dispatch; the child's outcome comes back once, in
:meth:`Expansion.child_finished`, which fills the sinks (list collectors, streaming
collectors, ``astream``) and gives the credit back when every consumer has the value.

When the block is one async node reading only its item and nothing watches the item
(:class:`_Lone` says when), the item needs no ``Instance``: it is one task,
:meth:`_Lone.run_item`, that calls the node, fills the list collectors and gives the
slot and the credit back itself; only a failure makes the item's ``Instance``, which then
comes back through ``child_finished`` like any other.

Who owns what
-------------
- One ``Expansion`` per expander step of an instance. It owns one task of the run (the drive
  loop), which owns the source: it calls the expander, advances what it returns and closes
  it in ``finally`` (``aclose()`` for async generators).
- A sync generator (any blocking iterator) is advanced by a ``_streams.Pump`` in bursts on the
  shared pump threads; how sync sources advance is the dispatch's choice (the inline executor
  advances them on the loop).

Bounds
------
The window: items yielded but not yet consumed by every consumer. A credit is taken before
the source is asked for an item; it comes back when the item's instance has finished and
every streaming collector (and an ``astream`` reader, for the events of the item) has taken
its value. List collectors take values at once.

Errors and cancellation
-----------------------
A source that raises fails its expander node (``NodeExecutionError`` naming the expander and
the instance's index); so does a source raising ``CancelledError`` itself while the run is
alive. A child's ``Raised`` outcome fails the run; ``Ended`` fills its slot with the
``ItemFailure`` (deliver) or leaves it out (skip). On cancel, the drive loop closes its source.
"""

from __future__ import annotations

import asyncio
import inspect
import types
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from asyncdag import _calls
from asyncdag._memo import MISS, SLOW, ItemMemo, Memo
from asyncdag._sync import Credits
from asyncdag.execution._blockrun import call_detached
from asyncdag.execution._dispatch import Dispatch
from asyncdag.execution._frontier import Frontier
from asyncdag.execution._instance import Instance, ItemEnded, SyncCalls, call_memo
from asyncdag.execution._nodeevents import task_id
from asyncdag.execution._outcome import Done, Ended, Outcome, Raised
from asyncdag.execution._plan import CallStep, ExpandStep
from asyncdag.execution._resources import resolve_async
from asyncdag.execution._streams import SKIPPED, Pump, SourceFailed, Stream
from asyncdag.policies import DELIVER

__all__ = ["Expansion"]

_current_task = asyncio.current_task

_MATERIALIZED = (list, tuple, range, dict, set, frozenset, str, bytes)


class Expansion:
    """One expansion of ``step`` in the instance ``parent``."""

    __slots__ = (
        "_chunk",
        "_give",
        "_owed",
        "block",
        "calls",
        "count",
        "credits",
        "dispatch",
        "done",
        "exhausted",
        "frontier",
        "gated",
        "lists",
        "lone",
        "outstanding",
        "parent",
        "run",
        "skipped",
        "step",
        "step_index",
        "streams",
        "unconsumed",
    )

    def __init__(
        self,
        parent: Instance,
        step_index: int,
        step: ExpandStep,
        dispatch: Dispatch,
        calls: SyncCalls,
    ) -> None:
        self.parent = parent
        self.run = parent.run
        self.step = step
        self.step_index = step_index
        self.block = step.child
        self.dispatch = dispatch
        self.calls = calls  # how sync steps of in-loop children run
        self.lists: dict[str, list[Any]] = {k: [] for k in self.block.list_sinks}
        self.streams: list[tuple[str, Stream]] = []
        self.unconsumed: dict[int, int] = {}
        self.count = 0
        self.outstanding = 0
        self.skipped = 0  # items left out by a skip error policy
        self.exhausted = False
        self.done = False
        self.gated = bool(step.gate_keys)
        self.credits = Credits(self.run.window)
        self.frontier: Frontier | None = None  # a Frontier expander's seen items and queue
        self._give = self.credits.give  # gives a window credit back (to the pump, if pumped)
        # Credits for a pump go back in chunks of its wake-up slice (``_owed`` until then):
        # a starved pump starts again only once that much is free, so the chunks change
        # nothing of when it runs, and most items give their credit back without a call
        self._chunk = 1
        self._owed = 0
        #: each item is one task of this expansion, with no Instance (see _Lone)
        self.lone: _Lone | None = None

    def start(self) -> None:
        run = self.run
        self.lone = _Lone.of(self)
        for child_key, parent_key, ordered in self.block.stream_sinks:
            stream = Stream(ordered, self.consumed, run.from_thread)
            self.streams.append((child_key, stream))
            self.parent.values[parent_key] = stream
            run.call_at_end(stream.detach)
        run.spawn(self._drive())
        # Streaming collectors may start now; list collectors wait for the ExpandDoneStep.
        self.parent.step_done(self.step_index, None)

    # -- the source ----------------------------------------------------------------------------

    async def _drive(self) -> None:
        run, step, parent = self.run, self.step, self.parent
        hooked = run.hooks is not None and run.hooks.nodes
        if hooked:  # an expander's call lasts until its source is exhausted
            parent.node_started(step)
        call = parent.call_info(step)
        _calls.enter_call(call)  # this task's own context
        source: Any = None
        try:
            try:
                source = await self._open()
                if step.frontier:
                    self.frontier, source = Frontier.of(source)
                if self._pumped(source):
                    pumped, source = source, None  # the pump closes it, on a pump thread
                    await self._pump(pumped)
                else:
                    await self._iterate(source)
                if self.frontier is not None:
                    await self._discovered()
            except SourceFailed as failure:
                self._source_failed(failure.error, call.attempt)
                return
            except ItemEnded:
                self._item_ended(call.attempt, hooked)
                return
            except asyncio.CancelledError as exc:
                if run.alive:  # the source's own CancelledError, not the run's
                    self._source_failed(exc, call.attempt)
                    return
                raise
            if not run.alive:
                return  # the loops stop when the run is over: the source is not exhausted
            self.exhausted = True
            self.dispatch.finished()
            if hooked:
                parent.node_finished(step, self.count, None, call.attempt)
            self._maybe_done()
        finally:
            if source is not None and not self.exhausted:
                await _close(source)

    def _source_failed(self, error: BaseException, attempts: int) -> None:
        """The expander raised: its error policy decides (failing the run, or ending the item
        the expansion belongs to). An expansion cut short delivers nothing more: its streams
        end with what they had, so that the item's streaming collectors finish."""
        self.parent.step_failed(self.step, error, attempts)
        if not self.run.alive:
            return
        self.done = True
        self.dispatch.finished()
        for _, stream in self.streams:
            stream.close(self.count)

    def _item_ended(self, attempts: int, hooked: bool) -> None:
        """The item this expansion belongs to ended (an error policy) before the values its
        block reads came: nothing went out, nothing will. The source is closed on the way
        out (``_drive``), the streams end empty, and the expander's call is reported ended."""
        self.done = True
        self.dispatch.finished()
        for _, stream in self.streams:
            stream.close(self.count)
        if hooked:
            ended = asyncio.CancelledError("its item ended before its block could start")
            self.parent.ended_meanwhile(self.step, None, ended, attempts)

    async def _open(self) -> Any:
        step, parent, run = self.step, self.parent, self.run
        if step.overridden_items:
            return parent.lookup(len(parent.block.scope), step.name)
        try:
            kwargs = parent.kwargs(step)
            if step.is_async:
                if step.resource_args:
                    await resolve_async(step.resource_args, kwargs, run.resources)
                result = step.fn(**kwargs)
                if hasattr(result, "__await__"):
                    result = await result
            elif _is_generator_function(step):
                result = call_detached(step.fn, kwargs)  # cheap: only makes the generator
            else:
                result = await parent.calls.run_sync(parent, step.fn, kwargs)
        except (Exception, SystemExit) as exc:
            raise SourceFailed(exc) from exc
        if hooked_total(run):
            total = len(result) if hasattr(result, "__len__") else None
            run.hook(
                "run_before_expansion",
                expander=step.name,
                index=parent.index,
                label=parent.label(),
                total=total,
            )
        return result

    def _pumped(self, source: Any) -> bool:
        """Whether ``source`` is a blocking iterator the pump advances off the loop."""
        return (
            not hasattr(source, "__aiter__")
            and not isinstance(source, _MATERIALIZED)
            and isinstance(source, Iterable)
            and not self.dispatch.advance_inline
        )

    async def _pump(self, source: Iterable[Any]) -> None:
        credits = self.credits.available
        self.credits.available = 0
        pump = Pump(iter(source), credits=credits, deliver=self._deliver)
        self._own_context()  # (the pump keeps a copy of it for the generator)
        self._give = pump.give  # credit now flows to the pump's thread
        self._chunk = pump.wake_at
        await pump.run()
        owed, self._owed, self._chunk = self._owed, 0, 1
        self.credits.available += pump.unused() + owed  # ... and back, for what comes next
        self._give = self.credits.give

    async def _iterate(self, source: Any) -> None:
        if hasattr(source, "__aiter__"):
            await self._iterate_async(source.__aiter__())
        elif isinstance(source, Iterable):
            if isinstance(source, _MATERIALIZED):
                self._own_context()
            await self._iterate_inline(iter(source))
        else:
            raise SourceFailed(
                TypeError(
                    f"expander {self.step.name!r} returned {type(source).__name__}, which is not"
                    " iterable; yield the items, or return a list or an async iterable"
                )
            )

    def _own_context(self) -> None:
        """No code of the expander runs in this task any more (its source is a pump's or a
        plain collection): its ``CallInfo`` goes, so that the tasks of lone items, which
        start from this context, need not clear it each."""
        if self.lone is not None:
            _calls.switch_call(None)
            self.lone.clears_call = False

    async def _iterate_async(self, it: AsyncIterator[Any]) -> None:
        run, credits = self.run, self.credits
        while run.alive:
            if not credits.take_nowait():
                await credits.take()
            try:
                item = await it.__anext__()
            except StopAsyncIteration:
                credits.give()
                return
            except asyncio.CancelledError:
                raise
            except (Exception, SystemExit) as exc:
                raise SourceFailed(exc) from exc
            if self.frontier is not None and not self._seed(item):
                continue
            if not self._dispatch_now(item):
                await self._dispatch(item)

    async def _iterate_inline(self, it: Iterator[Any]) -> None:
        run, credits = self.run, self.credits
        end = object()
        while run.alive:
            if not credits.take_nowait():
                await credits.take()
            try:
                item = next(it, end)
            except (Exception, SystemExit) as exc:
                raise SourceFailed(exc) from exc
            if item is end:
                credits.give()
                return
            if self.frontier is not None and not self._seed(item):
                continue
            if not self._dispatch_now(item):
                await self._dispatch(item)

    def _deliver(self, item: Any) -> Any:
        """One item from the pump: dispatched now, or an awaitable that dispatches it."""
        if self.frontier is not None and not self._seed(item):
            return None
        if self.gated or not self.dispatch.admit_nowait(self.run):  # _dispatch_now, inline
            return self._dispatch(item)
        self._start_child(item)
        return None

    def _seed(self, item: Any) -> bool:
        """A seed of a Frontier expander: dispatch it if new, else give its credit back."""
        assert self.frontier is not None
        try:
            new = self.frontier.accept(item, 0)
        except TypeError as exc:
            raise SourceFailed(exc) from exc
        if not new:
            self._give()
        return new

    async def _discovered(self) -> None:
        """After the seeds: the items the block finds, until none is out and none waits."""
        frontier, run, credits = self.frontier, self.run, self.credits
        assert frontier is not None
        self._give = credits.give  # a pump (if the seeds were pumped) is done with them
        while run.alive:
            if not frontier.waiting:
                if self.outstanding == 0:
                    return
                await frontier.wake.wait()
                continue
            # the window's credit and the slot first, the item last: what waits only grows
            # meanwhile (this loop alone takes), and the frontier's order picks among all of it
            if not credits.take_nowait():
                await credits.take()
            if self.gated or not self.dispatch.admit_nowait(run):
                await self._admitted()
            found = frontier.take()
            assert found is not None
            self._start_child(*found)

    # -- items ---------------------------------------------------------------------------------

    def _dispatch_now(self, item: Any, depth: int = 0) -> bool:
        """Start ``item``'s instance if nothing has to be awaited first (the common case:
        no coroutine per item); ``False``: the caller awaits :meth:`_dispatch` instead."""
        if self.gated or not self.dispatch.admit_nowait(self.run):
            return False
        self._start_child(item, depth)
        return True

    async def _dispatch(self, item: Any, depth: int = 0) -> None:
        await self._admitted()
        self._start_child(item, depth)

    async def _admitted(self) -> None:
        """Wait until the next item may start: the outer values its block reads (the first
        item only), then the executor's admission (a ``max_tasks`` slot)."""
        if self.gated:
            await self.parent.wait_for_values(self.step.gate_keys)
            self.gated = False
        dispatch = self.dispatch
        if not dispatch.admit_nowait(self.run):
            await dispatch.admit(self.run)

    def _start_child(self, item: Any, depth: int = 0) -> None:
        i = self.count
        self.count = i + 1
        lone = self.lone
        if lone is not None:
            for lst, _ in lone.sinks:
                lst.append(None)
            self.outstanding += 1
            self.run.spawn_node(lone.run_item(self, i, item, self.dispatch.granted()))
            return
        run, parent, name = self.run, self.parent, self.step.name
        if self.frontier is not None:
            self.frontier.started(i, depth)
        for lst in self.lists.values():
            lst.append(None)
        index = (*parent.index, i)
        child = Instance(
            run, self.block, {name: item}, parent, index, self.calls, self.child_finished, self
        )
        self.outstanding += 1
        hooks = run.hooks
        if hooks is not None:
            if hooks.item_yielded:
                run.hook("run_after_item_yielded", expander=name, index=index, label=child.label())
            if hooks.before_task:
                run.hook(
                    "run_before_task_execution",
                    task_id=task_id(index),
                    expander=name,
                    index=index,
                    label=child.label(),
                    executor=self.dispatch.executor,
                )
        self.dispatch.start(child)

    def child_finished(self, child: Instance, outcome: Outcome) -> None:
        """The one way a child comes back: its outcome, from whatever path it ran on."""
        run = self.run
        if not run.alive:
            return
        if isinstance(outcome, Raised):
            run.fail(outcome.error)
            return
        self.dispatch.release(child)
        i = child.index[-1]
        failure = outcome.failure if isinstance(outcome, Ended) else None
        if failure is None:
            values = child.values
            for key, lst in self.lists.items():
                lst[i] = values[key]
        else:
            marker: Any = failure if failure.policy == DELIVER else SKIPPED
            if marker is SKIPPED:
                self.skipped += 1
            for lst in self.lists.values():
                lst[i] = marker
            run.item_ended(failure)
            child._emit(failure.node, failure)  # astream reports it as a "failure" event
        self.outstanding -= 1
        frontier = self.frontier
        if frontier is not None:  # what the item found joins the frontier
            values = child.values
            found = (
                [item for name in self.block.feeders for item in (values.get(name) or ())]
                if failure is None
                else None
            )
            frontier.feed(i, found)
        hooks = run.hooks
        if hooks is not None and hooks.after_task:
            run.hook(
                "run_after_task_execution",
                task_id=task_id(child.index),
                expander=self.step.name,
                index=child.index,
                label=child.label(),
                success=failure is None,
                error=failure.error if failure is not None else None,
                outcome="done" if isinstance(outcome, Done) else outcome.outcome_name,
                executor=self.dispatch.executor,
            )
        # Who still has to take this item before its credit comes back: each streaming
        # collector, and the astream reader for each event of the item (some may be read
        # already: their releases came first and left a negative count).
        held = self.unconsumed.pop(i, 0) + len(self.streams) + child.charged
        if held == 0:
            self._credit_back()
        else:
            self.unconsumed[i] = held
            for key, stream in self.streams:
                if failure is None:
                    stream.put(i, child.values[key])
                elif failure.policy == DELIVER:
                    stream.put(i, failure)
                else:
                    stream.skip(i)
        if self.exhausted and not self.outstanding:
            self._maybe_done()

    def lone_done(self, lone: _Lone, i: int, value: Any, item: Any) -> None:
        """Lone item ``i`` (``_Lone.run_item``) made ``value``: the sinks take it (its item,
        for a collector of the items themselves), as :meth:`child_finished` does for an
        instance; its credit comes back once every streaming collector has taken it."""
        for lst, own in lone.sinks:
            lst[i] = value if own else item
        self.outstanding -= 1
        streams = self.streams
        if streams:
            self.unconsumed[i] = len(streams)  # (no astream event of it: none was read yet)
            name = lone.step.name
            for key, stream in streams:
                stream.put(i, value if key == name else item)
        else:
            self._credit_back()
        if self.exhausted and not self.outstanding:
            self._maybe_done()

    def _credit_back(self) -> None:
        """An item's window credit comes back (to a pump: in chunks, see ``__init__``)."""
        if self._chunk == 1:
            self._give()
        else:
            owed = self._owed + 1
            if owed >= self._chunk:
                self._owed = 0
                self._give(owed)
            else:
                self._owed = owed

    def consumed(self, i: int) -> None:
        """One consumer has taken item ``i`` (see :meth:`child_finished`)."""
        left = self.unconsumed.get(i, 0) - 1
        if left == 0:
            del self.unconsumed[i]
            self._give()
        else:
            self.unconsumed[i] = left

    def _maybe_done(self) -> None:
        if self.done or not self.exhausted or self.outstanding:
            return
        self.done = True
        lone = self.lone
        if lone is not None and lone.items is not None:
            lone.items.close()  # what the cache keeps of the items, before what follows them
        parent = self.parent
        for key, lst in self.lists.items():
            if self.skipped:
                lst = [v for v in lst if v is not SKIPPED]
            parent.values[key] = lst
        if parent.gates is not None:
            parent.open_gates()
        run = self.run
        if run.hooks is not None and run.hooks.expansion:
            run.hook(
                "run_after_expansion",
                expander=self.step.name,
                index=parent.index,
                items=self.count,
            )
        for _, stream in self.streams:
            stream.close(self.count)
        parent.complete_expansion(self.step.done_step)


class _Lone:
    """How the items of an expansion run when each is one async call and nothing else: the
    block is one async node reading only the item, with no policy or hook wrapping it (no
    ``CallInfo`` to make; a cache may, through its memo), no per-worker resource, no
    ``astream`` event; nobody listens to node, item or task events; no Frontier; and the
    dispatch runs instances as tasks of the run on its loop (``Dispatch.starts_lone``), so
    the expansion may spawn such an item itself, with the slot its admission took. Then an
    item needs no :class:`Instance` unless it fails (:meth:`run_item`); its value goes to
    list and streaming collectors alike (``Expansion.lone_done``).

    One per expansion, holding nothing of it (the expansion holds this): its methods are
    handed the expansion."""

    __slots__ = (
        "clears_call",
        "items",
        "keyword",
        "memo_fn",
        "memo_positional",
        "positional",
        "sinks",
        "step",
    )

    def __init__(self, step: CallStep, keyword: str, sinks: tuple[tuple[list[Any], bool], ...]):
        self.step = step
        self.keyword = keyword
        #: each list collector's list, and whether it takes the node's value (else the item)
        self.sinks = sinks
        #: the expander's CallInfo may be current where items start (Expansion._own_context)
        self.clears_call = True
        #: ``fn(item)`` binds the item as ``fn(**{keyword: item})`` would: the cheaper call
        self.positional = _binds_first(step.fn, keyword)
        #: the cache's memo of this expansion's items (set by ``of``), and how to call the
        #: node's own function past it
        self.items: ItemMemo | None = None
        memo = step.memo
        self.memo_fn: Any = memo.fn if memo is not None else None
        self.memo_positional = memo is not None and _binds_first(memo.fn, keyword)

    @staticmethod
    def of(expansion: Expansion) -> _Lone | None:
        block, run, step = expansion.block, expansion.run, expansion.step
        lone = block.lone_async
        if lone is None or not expansion.dispatch.starts_lone or step.frontier:
            return None
        if lone.wants_call or lone.resource_args or (lone.emit and run.events is not None):
            return None
        if lone.local is None or len(lone.local) != 1:
            return None
        hooks = run.hooks
        if hooks is not None and (
            hooks.nodes or hooks.item_yielded or hooks.before_task or hooks.after_task
        ):
            return None
        keyword, key = lone.local[0]
        assert key == step.name  # a lone block's instance holds only its item
        sinks = tuple((lst, name == lone.name) for name, lst in expansion.lists.items())
        route = _Lone(lone, keyword, sinks)
        if lone.memo is not None:
            items = lone.memo.items(run.info, expansion.parent.index, keyword)
            if items is not None:
                route.items = items
                run.call_at_end(items.close)
        return route

    async def run_item(self, exp: Expansion, i: int, item: Any, slotted: Any) -> None:
        """Item ``i`` of ``exp``, start to end, as one task: the node's call, its value into
        the list collectors, the slot it holds (``slotted``, a limiter) and the window credit
        back.

        What a block instance would do, without one: a failure (or the node's own
        ``CancelledError``) makes the item's :class:`Instance` then and hands it the error,
        so that error policies, ``astream``'s failure events and ``child_finished`` decide
        as for any item. Whatever else escapes (a bug, a ``KeyboardInterrupt``) fails the
        run here. The task takes itself off the run's list as it ends (``Run.spawn_node``).
        """
        run = exp.run
        try:
            if self.clears_call:  # this task's own context: not the expander's CallInfo
                _calls.switch_call(None)
            step = self.step
            try:
                if step.memo is not None:
                    items = self.items
                    if items is None:
                        value = await self._memo_call(exp, step.memo, i, item, slotted)
                    else:  # (asyncdag._memo: the memo of this expansion's items)
                        key, value = items.look(i, item)
                        if value is MISS:
                            try:
                                if self.memo_positional:
                                    value = await self.memo_fn(item)
                                else:
                                    value = await self.memo_fn(**{self.keyword: item})
                            except Exception as exc:
                                items.failed(i, key, exc)
                                raise
                            if items.keep(i, key, value):
                                await step.memo.settle()
                        elif value is SLOW:
                            value = await self._slow_call(exp, i, item, slotted)
                elif self.positional:
                    value = await step.fn(item)
                else:
                    value = await step.fn(**{self.keyword: item})
            except asyncio.CancelledError as exc:
                if run.alive:  # the node's own CancelledError, not the run's cancellation
                    self.instance(exp, i, item, slotted).step_failed(step, exc, 1)
                    return
                raise
            except (Exception, SystemExit) as exc:
                self.instance(exp, i, item, slotted).step_failed(step, exc, 1)
                return
            if not run.alive:
                return
            if slotted is not None:
                slotted.release(run)
            exp.lone_done(self, i, value, item)
        except BaseException as exc:
            run.escaped(exc)
            raise
        finally:
            run.unlist(_current_task())  # (Run.spawn_node)

    async def _memo_call(self, exp: Expansion, memo: Memo, i: int, item: Any, slotted: Any) -> Any:
        """A cached item's call (see ``asyncdag._memo``): a hit's value, or the node's own
        value, kept by the cache; when the memo cannot answer at once, the cache's wrapper
        with the item's ``CallInfo`` current (the one case that makes the item's Instance:
        the CallInfo's owner)."""
        found = await call_memo(memo, exp.run.info, (*exp.parent.index, i), {self.keyword: item})
        if found is SLOW:
            return await self._slow_call(exp, i, item, slotted)
        return found

    async def _slow_call(self, exp: Expansion, i: int, item: Any, slotted: Any) -> Any:
        """The cache's wrapper, with the item's ``CallInfo`` current: what a memo cannot
        answer at once (the one case that makes the item's Instance: the CallInfo's owner)."""
        _calls.enter_call(self.instance(exp, i, item, slotted).call_info(self.step))
        return await self.step.fn(**{self.keyword: item})

    def instance(self, exp: Expansion, i: int, item: Any, slotted: Any) -> Instance:
        """The Instance of item ``i`` of ``exp``, made when something needs one."""
        child = Instance(
            exp.run,
            exp.block,
            {exp.step.name: item},
            exp.parent,
            (*exp.parent.index, i),
            exp.calls,
            exp.child_finished,
            exp,
        )
        child.slotted = slotted
        return child


def _binds_first(fn: Any, keyword: str) -> bool:
    """Whether ``fn(item)`` binds the item as ``fn(**{keyword: item})`` would: a plain
    function whose first parameter is that keyword, not positional-only."""
    code = getattr(fn, "__code__", None)
    return (
        isinstance(fn, types.FunctionType)
        and code is not None
        and code.co_argcount >= 1
        and code.co_posonlyargcount == 0
        and code.co_varnames[0] == keyword
    )


def hooked_total(run: Any) -> bool:
    hooks = run.hooks
    return hooks is not None and hooks.before_expansion


def _is_generator_function(step: ExpandStep) -> bool:
    return inspect.isgeneratorfunction(inspect.unwrap(step.fn)) or inspect.isgeneratorfunction(
        inspect.unwrap(step.node.callable)
    )


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
