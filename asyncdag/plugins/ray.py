"""Run block instances on Ray.

Example::

    import ray
    from asyncdag import driver
    from asyncdag.plugins.ray import RayExecutor, init_local

    init_local(num_cpus=2)      # a Ray on this machine only (or ray.init(address=...))
    dr = (
        driver.Builder()
        .with_modules(my_module)
        .with_remote_executor(RayExecutor(concurrency=64))
        .build()
    )

Blocks of sync nodes (CPU work) travel as Ray *tasks*, in batches sized from their measured
time. Blocks with async nodes (I/O) go to Ray *async actors*, one per CPU by default
(``actors=``), each running up to ``concurrency`` block instances at once on its own event
loop. Instances stream to an actor as they are admitted and come back one by one as they
finish, as they do with worker processes, but not one actor call each: the parent sends what
was admitted meanwhile in one call, and takes every answer that is ready in one call, each at
most every ``answer_interval`` seconds (default 5 ms) an actor. Chosen by measurement
(``python -m benchmarks crawl``): an actor call costs ~2 ms of CPU across Ray's processes,
so a call an item cost a crawl more than its pages did.

Nodes decorated with ``@ray_remote_options(num_gpus=1, resources={...})`` (Hamilton's
decorator, in ``asyncdag.function_modifiers``) place the jobs of their block: a block's tasks
(or its actors) ask for the largest amount of each resource any of its nodes asks for; other
options (``runtime_env``, ``scheduling_strategy``...) must agree within a block.

The expansion's window and ``max_tasks`` bound what is in flight (Ray queues without bound
otherwise). Cancelling a run cancels its Ray work: actor calls are cancelled (their coroutines
see ``CancelledError``), the workers of running tasks are killed (Ray replaces them), and the
run waits for Ray to confirm. The
executor does not own the Ray runtime: ``ray.shutdown()`` is yours to call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections import deque
from collections.abc import Iterator
from typing import Any

import cloudpickle

from asyncdag.errors import ExecutorError, WorkerDiedError
from asyncdag.execution._procpool import ProcessPool, Worker
from asyncdag.execution._worker import Channel
from asyncdag.execution.executors import BatchingExecutor, run_batch

#: the tag prefix ``@ray_remote_options`` writes (JSON values)
_OPTION_TAG = "ray_remote."
#: options that only Ray tasks take (not actors)
_TASK_ONLY = frozenset({"max_retries", "retry_exceptions", "num_returns"})

__all__ = ["RayExecutor", "init_local", "loopback_only"]

#: Ray's "this machine only" switch (what it does by default on macOS and Windows)
_SINGLE_MACHINE_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


@contextlib.contextmanager
def loopback_only() -> Iterator[None]:
    """A Ray started inside listens on 127.0.0.1 only.

    ``ray.init(_node_ip_address="127.0.0.1")`` alone is not enough on Linux: Ray swaps a
    loopback address for the machine's outward one, and its servers then listen on every
    interface. With Ray's single-machine switch off (in this process, where the address is
    chosen, and in the environment the processes it starts inherit), the node's address is
    the loopback one.

    Example::

        with loopback_only():
            ray.init(num_cpus=2, _node_ip_address="127.0.0.1")
    """
    import ray

    constants: Any = getattr(getattr(ray, "_private", None), "ray_constants", None)
    before_env = os.environ.get(_SINGLE_MACHINE_ENV)
    before = getattr(constants, "ENABLE_RAY_CLUSTER", None)
    os.environ[_SINGLE_MACHINE_ENV] = "0"
    if before is not None:
        constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        if before is not None:
            constants.ENABLE_RAY_CLUSTER = before
        if before_env is None:
            os.environ.pop(_SINGLE_MACHINE_ENV, None)
        else:
            os.environ[_SINGLE_MACHINE_ENV] = before_env


def init_local(num_cpus: int | None = None, **options: Any) -> None:
    """Start Ray on this machine, every server of it on 127.0.0.1 only, no dashboard.

    ``options`` go to ``ray.init`` (``resources=``, ``logging_level=``...); ``ray.shutdown()``
    stays yours to call.

    Example::

        init_local(num_cpus=2)
        dr = driver.Builder().with_modules(m).with_remote_executor(RayExecutor()).build()
    """
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ExecutorError(
            "init_local needs the 'ray' extra: pip install 'asyncdag[ray]'"
        ) from exc
    settings: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "_node_ip_address": "127.0.0.1",
        **options,
    }
    with loopback_only():
        ray.init(num_cpus=num_cpus, **settings)


class _AsyncWorker:
    """A Ray async actor serving async block instances on its own event loop, over two
    methods: ``put`` (messages from the parent: jobs, cancels) and ``take`` (the answers that
    are ready, waited for). It is the worker side of a process pool's worker
    (``_worker.Channel``), so items run, answer and are cancelled as they are in worker
    processes."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._channel: Channel | None = None

    def _open(self) -> Channel:
        if self._channel is None:
            self._channel = Channel(asyncio.get_running_loop(), self._interval)
        return self._channel

    async def put(self, message: bytes) -> None:
        self._open().put(message)

    async def take(self) -> list[bytes]:
        return await self._open().take()


class _ActorConn:
    """The parent's end of an actor, as a pool worker's pipe: ``send_bytes`` is an actor call
    (not waited for; calls from one caller start in order), ``recv_bytes`` waits for the
    actor's ``take`` (on the worker's reader thread) and hands out its answers one by one.

    The reader waits on the call's future, never inside ``ray.get``: a thread blocked in Ray
    while ``ray.shutdown()`` tears the runtime down aborts the process. It looks every
    ``_POLL`` seconds whether Ray is still up, and reads a Ray that is gone as a lost actor.
    """

    def __init__(self, actor: Any) -> None:
        self.actor = actor
        self.closed = False
        self._answers: deque[bytes] = deque()

    def send_bytes(self, message: bytes) -> None:
        self.actor.put.remote(message)

    def recv_bytes(self) -> bytes:
        import ray

        while not self._answers:
            if self.closed or not ray.is_initialized():
                raise EOFError("Ray was shut down")
            try:
                waiting = self.actor.take.remote().future()
            except Exception as exc:
                raise EOFError(str(exc)) from exc
            while True:
                try:
                    self._answers.extend(waiting.result(timeout=_POLL))
                    break
                except TimeoutError:
                    if self.closed or not ray.is_initialized():
                        raise EOFError("Ray was shut down") from None
                except Exception as exc:  # the actor died, or Ray went away
                    raise EOFError(str(exc)) from exc
        return self._answers.popleft()

    def close(self) -> None:
        self.closed = True


#: how often a reader waiting for an actor's answers looks whether Ray is still up (seconds)
_POLL = 0.25


class _ActorWorker(Worker):
    """A pool worker that is a Ray async actor."""

    pool: _ActorPool

    def _start(self) -> None:
        actor = self.pool.new_actor()
        self._connected(actor, _ActorConn(actor), None)

    def _how_it_ended(self) -> str:
        return "was lost (its Ray actor died)"

    def pid(self) -> int | None:
        return None

    def stop(self, timeout: float) -> None:
        import ray

        actor = self.process
        if actor is not None:
            with contextlib.suppress(Exception):
                ray.kill(actor)
        self.close_pipes()


class _ActorPool(ProcessPool):
    """``size`` async actors of ``cls`` (actor options applied), reached as pool workers."""

    worker_class = _ActorWorker

    def __init__(self, size: int, cls: Any, interval: float) -> None:
        super().__init__(size, _no_target)
        self._cls = cls
        self._interval = interval
        self.send_interval = interval

    def new_actor(self) -> Any:
        return self._cls.remote(self._interval)


def _no_target(conn: Any, lifeline: Any) -> None:  # pragma: no cover - never started
    raise AssertionError("actor pools start no processes")


class RayExecutor(BatchingExecutor):
    """Ships block instances to Ray: sync blocks as tasks, async blocks to async actors.

    ``max_tasks`` bounds the block instances (async) or batches (sync) in flight (default:
    the larger of twice the cluster's CPUs and ``actors * concurrency``). ``answer_interval``:
    the least time between two calls to one actor of each kind (sending it items, taking its
    answers); more saves CPU, less answers sooner.
    """

    def __init__(
        self,
        max_tasks: int | None = None,
        *,
        concurrency: int = 1,
        actors: int | None = None,
        batch_seconds: float = 0.005,
        max_batch: int = 512,
        answer_interval: float = 0.005,
    ) -> None:
        try:
            import ray
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ExecutorError(
                "RayExecutor needs the 'ray' extra: pip install 'asyncdag[ray]'"
            ) from exc
        if not ray.is_initialized():
            raise ExecutorError(
                "Ray is not initialized: call ray.init(address=...) before RayExecutor(), or"
                " asyncdag.plugins.ray.init_local(num_cpus=2) for a Ray on this machine only"
            )
        if concurrency < 1:
            raise ExecutorError(f"concurrency must be at least 1, got {concurrency}")
        cluster = ray.cluster_resources()  # type: ignore[no-untyped-call,unused-ignore]
        cpus = max(1, int(cluster.get("CPU", 1)))
        self.actors = actors or cpus
        self.concurrency = concurrency
        if max_tasks is None:
            max_tasks = max(2 * cpus, self.actors * concurrency)
        super().__init__(max_tasks, batch_seconds=batch_seconds, max_batch=max_batch)
        self._remote_fn: Any = None
        self._tasks: dict[str, Any] = {}  # task options (as JSON) -> the task with them
        self.answer_interval = answer_interval
        self._pools: dict[str, _ActorPool] = {}  # actor options (as JSON) -> its actors

    @property
    def workers(self) -> int:
        return self.actors

    def job_options(self, block: Any) -> dict[str, Any] | None:
        """The Ray options of ``block``'s jobs, from its nodes' ``@ray_remote_options``."""
        merged: dict[str, Any] = {}
        source: dict[str, str] = {}
        todo = [block]
        while todo:
            b = todo.pop()
            for step in b.steps:
                child = getattr(step, "child", None)
                if child is not None:
                    todo.append(child)
                node = getattr(step, "node", None)
                if node is None:
                    continue
                for tag, raw in node.tags.items():
                    if not tag.startswith(_OPTION_TAG):
                        continue
                    option, value = tag[len(_OPTION_TAG) :], json.loads(raw)
                    merged[option] = _merge(
                        option, merged.get(option), value, source.get(option), node.name
                    )
                    source.setdefault(option, node.name)
        return merged or None

    def _task(self, options: dict[str, Any] | None) -> Any:
        key = json.dumps(options or {}, sort_keys=True)
        task = self._tasks.get(key)
        if task is None:
            import ray

            if self._remote_fn is None:
                self._remote_fn = ray.remote(run_batch)
            task = self._tasks[key] = self._remote_fn.options(
                **{"max_retries": 0, **(options or {})}
            )
        return task

    def _actors(self, options: dict[str, Any] | None) -> _ActorPool:
        """The actors for ``options`` (each started on first use)."""
        placed = {k: v for k, v in (options or {}).items() if k not in _TASK_ONLY}
        key = json.dumps(placed, sort_keys=True)
        pool = self._pools.get(key)
        if pool is None:
            import ray

            # the actor's own calls: its answers' take, and the parent's puts meanwhile;
            # the items it runs are tasks on its loop, bounded by max_tasks
            cls = ray.remote(_AsyncWorker).options(max_concurrency=64, max_restarts=0, **placed)
            pool = self._pools[key] = _ActorPool(self.actors, cls, self.answer_interval)
        return pool

    async def ship(self, key: str, plan: bytes, data: bytes, what: str) -> bytes:
        return await self._ship(key, plan, data, what, None)

    async def _ship(
        self, key: str, plan: bytes, data: bytes, what: str, options: dict[str, Any] | None
    ) -> bytes:
        self._check_open()
        return await self._await(self._task(options).remote(key, plan, data), what, force=True)

    async def run_job(
        self,
        key: str,
        plan: bytes,
        data: bytes,
        what: str,
        *,
        weight: int,
        on_part: Any = None,
        options: Any = None,
    ) -> bytes:
        if on_part is None:  # a batch of sync items: a task
            return await self._ship(key, plan, data, what, options)
        self._check_open()
        job = self._actors(options).submit(
            cloudpickle.dumps((key, plan, data)), what, weight=weight, on_part=on_part,
            interruptible=True,
        )  # fmt: skip
        return await job.answer()  # cancelled: the worker drops the job first

    async def _await(self, ref: Any, what: str, *, force: bool) -> bytes:
        import ray

        waiter = asyncio.wrap_future(ref.future())
        try:
            answer: bytes = await asyncio.shield(waiter)
            return answer
        except asyncio.CancelledError:
            # Stop it, and wait until Ray says it is over: nothing of a cancelled run keeps
            # running, and no worker killed for it takes on the next run's work meanwhile. A
            # task (sync code) is stopped by killing its worker process; an actor call (async
            # code) by cancelling its coroutine.
            ray.cancel(ref, force=force)
            while not waiter.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait({waiter})
            if not waiter.cancelled():
                waiter.exception()  # retrieved: the cancellation is what the caller sees
            raise
        except ray.exceptions.RayError as exc:
            raise WorkerDiedError(f"the Ray task running {what} failed: {exc}") from exc

    def close(self) -> None:
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            pool.close()
        super().close()


def _merge(option: str, have: Any, value: Any, first: str | None, node: str) -> Any:
    """Two nodes of one block ask for ``option``: the larger amount, or the same value."""
    if have is None:
        return value
    if isinstance(have, int | float) and isinstance(value, int | float):
        return max(have, value)
    if option == "resources" and isinstance(have, dict) and isinstance(value, dict):
        both = dict(have)
        for k, v in value.items():
            both[k] = max(both[k], v) if isinstance(both.get(k), int | float) else v
        return both
    if have != value:
        raise ExecutorError(
            f"nodes {first!r} and {node!r} run in one block but ask Ray for different"
            f" {option!r} ({have!r} and {value!r}): give them the same value, or move one"
            " out of the block"
        )
    return have
