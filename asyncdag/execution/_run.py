"""The run: the one owner of everything a run starts, and how it fails and ends.

Who owns what
-------------
A :class:`Run` is made for one ``aexecute`` call (or one payload in a worker). Every task of
the run is created by :meth:`Run.spawn` (one that calls nodes: :meth:`Run.spawn_node`), every
piece of thread work by :meth:`Run.to_thread` (on a bounded pool the executor names), and every call
from a thread back into the loop goes through :meth:`Run.from_thread`. Nothing of a run goes
to the loop's default executor. Executor slots (``max_tasks``) are borrowed in the run's name,
so that whatever a run still holds when it ends is given back at once.

Errors and cancellation
-----------------------
The first failure wins (:meth:`Run.fail`): the run stops being *alive*, ``check_cancelled()``
starts raising in its sync code, every task of the run is cancelled, and queued thread work is
dropped. :meth:`Run.wait` then drains: it waits (shielded, so a caller cancelled again meanwhile
still sees a clean end) until every task has ended and every thread blocked in
:meth:`from_thread` has left, gives back every slot, and raises the failure. Cancelling the
task awaiting :meth:`wait` does the same and re-raises the cancellation untouched. A sync call
already inside user code on a thread is not interrupted: it finishes on its own and its result
is dropped (it can stop early by calling ``asyncdag.check_cancelled()``).

A run that succeeds returns once every task it started has ended on its own and every thread
job it queued has ended (the calls of an item that an error policy ended while they ran or
waited: a queued one sees that its item is over and does not start).

A lifecycle hook that raises fails the run with ``HookError`` naming the hook: a hook's bug is
never reported as a node's failure.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import sys
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from asyncdag._calls import RunInfo
from asyncdag._sync import SlotLimiter
from asyncdag.errors import HookError
from asyncdag.execution._threads import Job, ThreadPool
from asyncdag.htypes import ItemFailure
from asyncdag.lifecycle._hooks import HookSet
from asyncdag.policies import SKIP

__all__ = ["Event", "Run"]

#: what astream receives: (node, index path, value, release) — ``release()`` once read
Event = tuple[str, tuple[int, ...], Any, Callable[[], None] | None]

logger = logging.getLogger("asyncdag")

#: tasks can start eagerly (Python 3.12+)
_EAGER = sys.version_info >= (3, 12)


class Run:
    """State of one run: its tasks, thread work, failure, hooks and event sink."""

    __slots__ = (
        "__weakref__",
        "_finished",
        "_jobs",
        "_lock",
        "_tasks",
        "_thread_waits",
        "_threads_left",
        "alive",
        "at_end",
        "ended_counts",
        "events",
        "failure",
        "held",
        "hooks",
        "info",
        "limiters",
        "loop",
        "open_expansion",
        "resources",
        "run_id",
        "window",
    )

    def __init__(
        self,
        *,
        run_id: str,
        window: int,
        resources: Any,
        hooks: HookSet | None = None,
        events: Callable[[Event], None] | None = None,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.run_id = run_id
        self.info = RunInfo(run_id)
        self.window = window
        self.resources = resources
        self.hooks = hooks if hooks else None
        self.events = events
        self.failure: BaseException | None = None
        self.alive = True  # no failure, no cancellation: read on every step, so a plain field
        #: opens an expansion for (instance, step index, step); set by the engine
        self.open_expansion: Callable[[Any, int, Any], None] = _no_expansions
        self.limiters: set[SlotLimiter] = set()  # limiters this run has borrowed from
        #: a limiter whose slot the code that started this run holds (a node running its own
        #: driver again): this run's instances run in that slot rather than wait for theirs
        self.held: frozenset[SlotLimiter] | set[SlotLimiter] = frozenset()
        self.info.limiters = self.limiters
        #: items ended by error policies, by (node, error type, policy); made on the first
        self.ended_counts: Counter[tuple[str, str, str]] | None = None
        #: what the engine calls once the run is over: it breaks the reference cycles a run
        #: needs while it runs (a stream calls back into its expansion), so that a run's
        #: objects are freed at once rather than by a full collection (made on the first)
        self.at_end: list[Callable[[], None]] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._jobs: set[Job] = set()
        self._lock = threading.Lock()
        self._thread_waits = 0  # threads blocked in from_thread
        self._threads_left: asyncio.Future[None] | None = None
        self._finished: asyncio.Future[None] = self.loop.create_future()

    def call_at_end(self, fn: Callable[[], None]) -> None:
        """Have the engine call ``fn`` once the run is over, however it ended: it breaks a
        reference cycle the run needs while it runs (see ``at_end``)."""
        if self.at_end is None:
            self.at_end = []
        self.at_end.append(fn)

    # -- tasks and threads ------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Start a task of the run; an exception escaping it fails the run."""
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def spawn_node(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Start a task that calls nodes (an item's, or async steps of an instance).

        On Python 3.12+ the task runs at once, up to its first suspension, as its own task
        (its own current task and context, so ``asyncio.timeout`` and anyio scopes inside
        behave): a call that never suspends costs no loop turn.

        ``coro`` settles itself, with no done callback: it hands whatever escapes it to
        :meth:`escaped`, and takes its task off the run's list as its last act
        (:meth:`unlist`). A task cancelled before it began (the run failed meanwhile) never
        runs ``coro``: it stays listed, done, until the run's next look at its list drops it
        (``_reap``).
        """
        if _EAGER:
            task = asyncio.Task(coro, loop=self.loop, eager_start=True)  # type: ignore[call-arg,unused-ignore]
            if task.done():  # it never suspended: never listed
                return task
        else:
            task = self.loop.create_task(coro)
        self._tasks.add(task)
        return task

    def escaped(self, exc: BaseException) -> None:
        """``exc`` escapes a :meth:`spawn_node` task, which re-raises it: anything but the
        run's own cancellation (a bug, a ``KeyboardInterrupt``) fails the run."""
        if not isinstance(exc, asyncio.CancelledError) or self.alive:
            self.fail(exc)
            task = asyncio.current_task()
            if task is not None:  # its exception is retrieved, as every task's is
                task.add_done_callback(_retrieve)

    def unlist(self, task: asyncio.Task[Any] | None) -> None:
        """``task`` (a :meth:`spawn_node` task, from inside itself) is ending: off the list."""
        self._tasks.discard(task)  # type: ignore[arg-type,unused-ignore]

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            exc = task.exception()
            if exc is not None:
                self.fail(exc)

    def to_thread(self, pool: ThreadPool, fn: Callable[..., Any], *args: Any) -> Job:
        """Run ``fn(*args)`` on ``pool`` in the run's context; ``job.future`` gets the result.

        Once the run is over, queued work never starts, and work that a thread takes after
        that raises the run's cancellation instead of calling ``fn``.
        """
        job = pool.submit(self.loop, _unless_cancelled, self.info, fn, args)
        self._jobs.add(job)
        job.future.add_done_callback(lambda _: self._jobs.discard(job))
        return job

    def from_thread(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        """On a thread of the run: run the coroutine function ``fn`` as a task of the run and
        return its result; raises ``asyncio.CancelledError`` once the run is over."""
        if not self.alive:
            raise asyncio.CancelledError()
        done: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._lock:
            self._thread_waits += 1
        try:
            try:
                self.loop.call_soon_threadsafe(self._start_for_thread, fn, done)
            except RuntimeError:  # the loop is closed: the run is long over
                raise asyncio.CancelledError() from None
            pool = ThreadPool.current()
            try:
                if pool is None:
                    return done.result()
                with pool.blocking():  # this thread waits: it must not starve the pool
                    return done.result()
            except concurrent.futures.CancelledError:
                raise asyncio.CancelledError() from None
        finally:
            with self._lock:
                self._thread_waits -= 1
                last = self._thread_waits == 0 and self._threads_left is not None
            if last:
                try:
                    self.loop.call_soon_threadsafe(self._thread_left)
                except RuntimeError:
                    pass

    def _start_for_thread(
        self, fn: Callable[[], Awaitable[Any]], done: concurrent.futures.Future[Any]
    ) -> None:
        if not self.alive:
            done.cancel()
            return
        task = self.spawn(_awaited(fn))

        def resolve(task: asyncio.Task[Any]) -> None:
            # a done callback, not a try/except in the coroutine: a task cancelled before its
            # first step never runs its body, and the thread must hear of it all the same
            if task.cancelled():
                done.cancel()
            elif task.exception() is not None:
                done.set_exception(task.exception())
            else:
                done.set_result(task.result())

        task.add_done_callback(resolve)

    def _thread_left(self) -> None:
        waiter = self._threads_left
        if waiter is not None and not waiter.done() and self._thread_waits == 0:
            waiter.set_result(None)

    # -- slots ---------------------------------------------------------------------------------

    def try_slot(self, limiter: SlotLimiter) -> bool:
        if limiter.try_acquire(self):
            self.limiters.add(limiter)
            return True
        return False

    async def take_slot(self, limiter: SlotLimiter) -> None:
        self.limiters.add(limiter)
        await limiter.acquire(self)

    def give_slot(self, limiter: SlotLimiter) -> None:
        limiter.release(self)

    # -- failing and ending --------------------------------------------------------------------

    def fail(self, exc: BaseException) -> None:
        """Record the first failure and cancel everything else in the run."""
        if self.failure is not None:
            return
        self.failure = exc
        self._stop()
        if not self._finished.done():
            self._finished.set_result(None)

    def finish(self) -> None:
        """The run's root instance is complete."""
        if not self._finished.done():
            self._finished.set_result(None)

    def _stop(self) -> None:
        self.alive = False
        self.info.cancelled = True
        for task in list(self._tasks):
            task.cancel()
        for job in list(self._jobs):
            if not job.started:
                job.future.cancel()

    async def wait(self) -> None:
        """Until the root instance is complete; on failure or cancellation, leave nothing
        running and raise."""
        try:
            await self._finished
        except BaseException:
            await self._cut_short()
            raise
        if self.failure is not None:
            await self._drain()
            raise self._failure_out()
        if self._tasks:
            self._reap()
            if self._tasks:
                await self._settle()
        if self._jobs:
            await self._stragglers()
        if self.failure is not None:  # a task failed while closing
            await self._drain()
            raise self._failure_out()
        self._give_back_slots()

    def _failure_out(self) -> BaseException:
        """The failure, to raise once nothing of the run is left; the run lets go of it, as
        its traceback holds frames that hold the run (a cycle otherwise, which only a full
        collection of the cyclic collector frees). The run is over: ``alive`` stays false."""
        failure, self.failure = self.failure, None
        assert failure is not None
        return failure

    async def _stragglers(self) -> None:
        """After success: a sync call still on a thread, or queued for one, of an item that
        its error policy ended meanwhile, ends before the run returns, so that no thread of
        the run is left and its hooks are closed (a queued call sees that its item has ended
        and does not start: ``_dispatch._run_chain``)."""
        await self._wait_out(lambda: [job.future for job in self._jobs])

    def _reap(self) -> None:
        """The tasks listed that are done already (the one that completed the root is, when
        this runs: it returned before this task woke), handled now rather than a loop turn
        later by their done callbacks (which then find nothing to do); and node tasks that
        were cancelled before they began (``spawn_node``), which have no done callback."""
        for task in [task for task in self._tasks if task.done()]:
            self._task_done(task)

    async def _settle(self) -> None:
        """After success: let the tasks still listed end on their own (not cancelled).

        Usually it is only the task that completed the root, returning, or an expansion
        closing its generator; a few loop turns see them out.
        """
        try:
            for _ in range(3):
                await asyncio.sleep(0)
                if not self._tasks:
                    return
        except BaseException:
            await self._cut_short()
            raise
        await self._wait_out(self._listed_tasks)

    def _listed_tasks(self) -> list[asyncio.Future[Any]]:
        self._reap()
        return list(self._tasks)

    async def _wait_out(self, listed: Callable[[], list[asyncio.Future[Any]]]) -> None:
        """After success: until ``listed()`` is empty (each future there is dropped from
        it by its done callback, which the loop turn after it runs); the caller's
        cancellation meanwhile cuts the run short, and propagates."""
        try:
            while futures := listed():
                pending = [fut for fut in futures if not fut.done()]
                if pending:
                    await asyncio.wait(pending)
                await asyncio.sleep(0)  # their done callbacks
        except BaseException:
            await self._cut_short()
            raise

    async def _cut_short(self) -> None:
        if self.failure is None:
            self.failure = asyncio.CancelledError()
        self._stop()
        await self._drain()

    async def _drain(self) -> None:
        # Shielded: the cleanup must finish even when the caller is cancelled again meanwhile
        # (anyio scopes re-deliver cancellation on every await); then the cancel is re-raised.
        # Every pass awaits at least one loop turn: a task that is done is listed until its
        # done callback runs, and on Python 3.12+ ``gather`` of done tasks is done at once.
        cancelled_again = False
        while True:
            self._stop()  # also tasks started by cleanup code
            self._reap()  # (node tasks that never began are done, and listed until now)
            pending = [task for task in self._tasks if not task.done()]
            with self._lock:
                threads = self._thread_waits
                if threads:
                    self._threads_left = self.loop.create_future()
            waits: list[Any] = [asyncio.gather(*pending, return_exceptions=True)] if pending else []
            if threads and self._threads_left is not None:
                waits.append(self._threads_left)
            if not waits and not self._tasks:
                break
            waiter = asyncio.gather(*waits, return_exceptions=True)
            while True:
                try:
                    await asyncio.shield(waiter)  # done at once when waits is empty
                    await asyncio.sleep(0)  # the done callbacks of tasks that just ended
                except asyncio.CancelledError:
                    cancelled_again = True
                if waiter.done():
                    break
        self._give_back_slots()
        if cancelled_again:
            raise asyncio.CancelledError()

    def _give_back_slots(self) -> None:
        # Slots of instances that were cut short: the executor is shared with other runs.
        for limiter in self.limiters:
            limiter.release_all(self)

    # -- hooks and events ----------------------------------------------------------------------

    def hook(self, name: str, **kwargs: Any) -> None:
        """Call the hooks of ``name`` now; an async one becomes a task of the run."""
        assert self.hooks is not None
        for adapter, method in self.hooks.get(name):
            try:
                result = method(run_id=self.run_id, **kwargs)
            except Exception as exc:
                self.fail(_hook_error(adapter, name, exc))
                return
            if inspect.isawaitable(result):
                self.spawn(_guarded(adapter, name, result))

    def emit(self, name: str, index: tuple[int, ...], value: Any, release: Any = None) -> None:
        if self.events is not None:
            self.events((name, index, value, release))

    def item_ended(self, failure: ItemFailure) -> None:
        """An item ended under a skip/deliver error policy: log it, count it, report it."""
        what = "skipped" if failure.policy == SKIP else "delivered as an ItemFailure"
        logger.info(
            "node %r failed at item %s %s (%s: %s); the item is %s by its error policy",
            failure.node,
            failure.index,
            failure.label or "",
            type(failure.error).__name__,
            failure.error,
            what,
        )
        if self.ended_counts is None:
            self.ended_counts = Counter()
        self.ended_counts[(failure.node, type(failure.error).__name__, failure.policy)] += 1

    def summarize_ended(self) -> None:
        """One WARNING for the whole run: items ended by error policies, by node and error."""
        if not self.ended_counts:
            return
        parts = ", ".join(
            f"{node}: {n} x {error} ({'skipped' if policy == SKIP else 'delivered'})"
            for (node, error, policy), n in sorted(self.ended_counts.items())
        )
        total = sum(self.ended_counts.values())
        logger.warning("%d item(s) ended by their error policy: %s", total, parts)


async def _awaited(fn: Callable[[], Awaitable[Any]]) -> Any:
    return await fn()


def _no_expansions(instance: Any, index: int, step: Any) -> None:
    raise RuntimeError("this run cannot open expansions")  # pragma: no cover - engine sets it


def _unless_cancelled(info: RunInfo, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    if info.cancelled:  # no new sync call starts once the run is over
        raise asyncio.CancelledError()
    return fn(*args)


def _hook_error(adapter: str, name: str, exc: BaseException) -> HookError:
    err = HookError(adapter, name, f"{type(exc).__name__}: {exc}")
    err.__cause__ = exc
    return err


async def _guarded(adapter: str, name: str, awaitable: Awaitable[Any]) -> None:
    try:
        await awaitable
    except Exception as exc:
        raise _hook_error(adapter, name, exc) from exc


async def call_hooks(hooks: HookSet, name: str, **kwargs: Any) -> None:
    """Call the hooks of ``name`` outside a run's steps (run start and end), awaiting async
    ones; a hook's exception becomes ``HookError``."""
    for adapter, method in hooks.get(name):
        try:
            result = method(**kwargs)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            raise _hook_error(adapter, name, exc) from exc


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()
