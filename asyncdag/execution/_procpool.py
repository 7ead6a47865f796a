"""A pool of worker processes that asyncdag owns: many jobs per worker, answers streamed back.

Who owns what
-------------
- The pool owns its worker processes. They start with ``forkserver`` where available
  (``spawn`` elsewhere), never by forking a process that runs an event loop and threads; each
  is started by a thread of its own (so starting one never blocks an event loop), reused
  across runs and loops, and replaced when it dies.
- Each worker has one *reader* thread in this process, blocked on the worker's pipe: it hands
  each message to the job it belongs to, on that job's event loop (``call_soon_threadsafe``).
  Sending is a short locked write from the caller's thread.
- A :class:`Job` is one payload (a batch of block instances, or one call) on one worker. It
  may answer in parts (``on_part``, items of an async batch as they finish) and ends with one
  final answer (``job.future``).

Bounds
------
At most ``size`` workers. The pool does not bound jobs: the executor's ``max_tasks`` limiter
does. A job goes to the worker with the least ``weight`` (items) in flight.

Errors and cancellation
-----------------------
- A worker that dies (crash, ``os._exit``, OOM kill) fails each of its jobs with
  ``WorkerDiedError`` naming the job; the next job goes to a fresh worker.
- :meth:`Job.cancel` asks the worker to drop the job: queued items never start, running async
  items are cancelled; a sync item already in user code finishes, unless it is all the worker
  is doing, in which case the worker exits at once and is replaced. The job's future resolves
  either way (cancelled), so a cancelled run waits for that and leaves nothing of it running.
- Every worker watches a *lifeline* pipe and exits the moment this process is gone.
- ``close()`` asks workers to stop, waits briefly, and kills the rest. Pools still open at
  interpreter exit are closed by an ``atexit`` hook.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import itertools
import multiprocessing
import multiprocessing.spawn as mp_spawn
import os
import pickle
import socket
import threading
import time
import weakref
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from asyncdag.errors import ExecutorError, WorkerDiedError
from asyncdag.execution._wire import MANY

__all__ = ["STOP", "Job", "ProcessPool", "Worker", "widen"]

#: the message that stops a worker
STOP = b"\0stop"
#: the exit code of a worker that dropped a cancelled sync job by exiting
CANCELLED_EXIT = 71

_open_pools: weakref.WeakSet[ProcessPool] = weakref.WeakSet()
_start_lock = threading.Lock()
_original_preparation = mp_spawn.get_preparation_data


def _preparation_without_main(name: str) -> dict[str, Any]:
    data: dict[str, Any] = _original_preparation(name)
    data.pop("init_main_from_path", None)
    data.pop("init_main_from_name", None)
    return data


#: the send buffer asked for on each end of a worker's pipe (the kernel caps it: Linux at
#: net.core.wmem_max). An answer of many pages is larger than the default ~200 KB; with less
#: room the worker's write waits for the parent's reader thread, which waits for the GIL
PIPE_BUFFER = 4 * 1024 * 1024


def widen(conn: Connection) -> None:
    """Ask for ``PIPE_BUFFER`` bytes of buffer on ``conn`` (a socket pair end), if it can."""
    with contextlib.suppress(OSError, ValueError):
        sock = socket.socket(fileno=os.dup(conn.fileno()))
        with sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, PIPE_BUFFER)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, PIPE_BUFFER)


def _resolve(fut: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if fut.done():
        return
    if ok:
        fut.set_result(value)
    elif value is None:
        fut.cancel()
    else:
        fut.set_exception(value)


class Job:
    """One payload on one worker; see the module docstring."""

    __slots__ = (
        "cancelled",
        "future",
        "id",
        "interruptible",
        "loop",
        "on_part",
        "weight",
        "what",
        "worker",
    )

    def __init__(
        self,
        job_id: int,
        loop: asyncio.AbstractEventLoop,
        what: str,
        weight: int,
        on_part: Callable[[bytes], None] | None,
        interruptible: bool = False,
    ) -> None:
        self.id = job_id
        #: its items are async: the worker cancels them, it never needs to exit for it
        self.interruptible = interruptible
        self.loop = loop
        self.what = what
        self.weight = weight
        self.on_part = on_part
        self.future: asyncio.Future[bytes] = loop.create_future()
        self.cancelled = False
        self.worker: _Worker | None = None

    def cancel(self) -> None:
        """Ask the worker to drop this job; ``future`` resolves once it has."""
        if self.cancelled or self.future.done():
            return
        self.cancelled = True
        worker = self.worker
        if worker is not None:
            worker.cancel(self)

    async def answer(self) -> bytes:
        """Wait for the job's answer. Cancelled, it asks the worker to drop the job and waits
        for that (or for the worker's replacement), so that nothing of a cancelled run still
        runs when the run returns; then the cancellation propagates."""
        try:
            return await asyncio.shield(self.future)
        except asyncio.CancelledError:
            self.cancel()
            while not self.future.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait({self.future})
            if not self.future.cancelled():
                self.future.exception()  # retrieved: the cancellation is what the caller sees
            raise

    def _deliver(self, kind: str, body: Any) -> None:  # on the reader thread
        try:
            if kind == "part":
                if self.on_part is not None:
                    self.loop.call_soon_threadsafe(self._part, body)
            elif kind == "done":
                self.loop.call_soon_threadsafe(_resolve, self.future, True, body)
            elif kind == "cancelled":
                self.loop.call_soon_threadsafe(_resolve, self.future, False, None)
            else:  # "died"
                self.loop.call_soon_threadsafe(_resolve, self.future, False, body)
        except RuntimeError:  # that loop is closed: nobody waits any more
            pass

    def _part(self, body: bytes) -> None:
        if not self.future.done() and self.on_part is not None:
            self.on_part(body)


class _Worker:
    """One worker process, its pipe, its reader thread and its jobs."""

    def __init__(self, pool: ProcessPool) -> None:
        self.pool = pool
        self.jobs: dict[int, Job] = {}
        self.load = 0  # the weight of the jobs in flight here
        self.lock = threading.Lock()
        self.started = False
        self.dead = False
        self.retiring = False  # takes no new job: it may exit to drop a cancelled one
        self.running: int | None = None  # the sync job on the worker's lane, if known
        self.queued: list[bytes] = []  # sent before the process was up
        self.outbox: list[tuple[str, int, Any]] = []  # posted jobs, sent at the loop turn's end
        self.sent_at = 0.0  # when the outbox was last sent (time.monotonic())
        self.process: Any = None
        self.conn: Any = None  # a Connection, or what stands for one (see _connected)
        self.lifeline: Connection | None = None
        threading.Thread(target=self._run, name="asyncdag-process-reader", daemon=True).start()

    # -- the reader thread ---------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._start()
        except BaseException as exc:  # the worker could not start: its jobs fail
            self._died(f"could not start: {type(exc).__name__}: {exc}")
            return
        conn = self.conn
        assert conn is not None
        while True:
            try:
                message = conn.recv_bytes()
            except (EOFError, OSError):
                break
            kind, job_id, body = pickle.loads(message)
            if kind == MANY:
                for one in body:
                    self._received(*one)
            else:
                self._received(kind, job_id, body)
            body = None  # hold nothing of a run while waiting for the next message
        self._died(self._how_it_ended())

    def _how_it_ended(self) -> str:
        with contextlib.suppress(Exception):
            self.process.join(timeout=1.0)  # reap it, to report its exit code
        return f"died (exit code {getattr(self.process, 'exitcode', None)})"

    def _received(self, kind: str, job_id: int, body: Any) -> None:
        if kind == "started":  # a sync job left the worker's queue for its lane
            self.running = job_id
            return
        with self.lock:
            job = self.jobs.get(job_id)
            if job is not None and kind != "part":
                del self.jobs[job_id]
                self.load -= job.weight
        if job is not None:
            job._deliver(kind, body)
        if kind != "part" and self.retiring:
            self.pool._forget(self)
            self.send(STOP)  # it did not need to exit: let it go all the same

    def _start(self) -> None:
        pool = self.pool
        parent_end, child_end = multiprocessing.Pipe(duplex=True)
        widen(parent_end)
        # The lifeline is never written: the worker watches its end on a thread of its own and
        # exits when it reads EOF, which the kernel delivers the moment this process dies,
        # however it dies (SIGKILL included) and whatever the worker is busy with.
        watched_end, held_end = multiprocessing.Pipe(duplex=False)
        process = pool._context.Process(
            target=pool._target,
            args=(child_end, watched_end),
            daemon=True,
            name="asyncdag-worker",
        )
        # Workers do not re-run the user's main script (tasks carry __main__ functions by
        # value with cloudpickle), so a script without an `if __name__ == "__main__"` guard, or
        # a notebook, still works, and a worker starts faster.
        with _start_lock:
            mp_spawn.get_preparation_data = _preparation_without_main
            try:
                process.start()
            finally:
                mp_spawn.get_preparation_data = _original_preparation
        child_end.close()
        watched_end.close()
        self._connected(process, parent_end, held_end)

    def _connected(self, process: Any, conn: Any, lifeline: Connection | None) -> None:
        """The worker is up: ``conn`` reaches it (``send_bytes``, ``recv_bytes``, ``close``);
        what was sent meanwhile goes now."""
        with self.lock:
            self.process, self.conn, self.lifeline = process, conn, lifeline
            self.started = True
            queued, self.queued = self.queued, []
            for message in queued:
                conn.send_bytes(message)

    def _died(self, how: str) -> None:
        with self.lock:
            self.dead = True
            jobs, self.jobs = list(self.jobs.values()), {}
            self.load = 0
        # the job that was running is named first: the run fails with its error, not with
        # that of a job that only waited behind it
        jobs.sort(key=lambda j: j.id != self.running)
        self.pool._forget(self)
        for job in jobs:
            if job.cancelled:
                job._deliver("cancelled", None)
            else:
                job._deliver(
                    "died",
                    WorkerDiedError(
                        f"the worker process running {job.what} {how}; it was replaced, so"
                        " later tasks run on a fresh worker"
                    ),
                )
        self.close_pipes()

    # -- any thread ----------------------------------------------------------------------------

    def send(self, message: bytes) -> bool:
        """Send ``message`` (queued until the process is up), after what was posted before
        it; False if the worker is gone."""
        with self.lock:
            return self._send_locked(message)

    def _send_locked(self, message: bytes | None) -> bool:
        if self.dead:
            return False
        if self.outbox:  # what was posted goes first: a cancel never overtakes its job
            out, self.outbox = self.outbox, []
            if not self._write(pickle.dumps(out[0] if len(out) == 1 else (MANY, -1, out))):
                return False
        return True if message is None else self._write(message)

    def _write(self, message: bytes) -> bool:
        if not self.started:
            self.queued.append(message)
            return True
        conn = self.conn
        assert conn is not None
        try:
            conn.send_bytes(message)
        except (OSError, EOFError, ValueError):
            return False
        return True

    def post(self, loop: asyncio.AbstractEventLoop, kind: str, job_id: int, body: Any) -> None:
        """Send a message at the end of the current turn of ``loop`` (the caller's), in one
        write with every other message posted meanwhile: each write wakes the worker. With
        the pool's ``send_interval``, no sooner than that after the last such write."""
        with self.lock:
            self.outbox.append((kind, job_id, body))
            first = len(self.outbox) == 1
        if first:
            pause = self.sent_at + self.pool.send_interval - time.monotonic()
            if pause > 0:
                loop.call_later(pause, self.flush)
            else:
                loop.call_soon(self.flush)

    def flush(self) -> None:
        with self.lock:
            if self.outbox:
                self.sent_at = time.monotonic()
            self._send_locked(None)

    def cancel(self, job: Job) -> None:
        """Ask the worker to drop ``job``; if it is all the worker has, the worker may exit
        to drop it at once (a sync item in user code cannot be interrupted otherwise), so
        from now on it takes no new job."""
        with self.lock:
            may_exit = not job.interruptible and set(self.jobs) == {job.id}
            if may_exit:
                self.retiring = True
        if may_exit:
            self.pool._forget(self)
        self.send(pickle.dumps(("cancel", job.id, may_exit)))

    def take(self, job: Job) -> bool:
        with self.lock:
            if self.dead or self.retiring:
                return False
            self.jobs[job.id] = job
            self.load += job.weight
            job.worker = self
            return True

    def pid(self) -> int | None:
        process = self.process
        return process.pid if process is not None else None

    def stop(self, timeout: float) -> None:
        self.send(STOP)
        process = self.process
        if process is not None:
            with contextlib.suppress(Exception):
                process.join(timeout=timeout)
            if process.is_alive():
                with contextlib.suppress(Exception):
                    process.kill()
                with contextlib.suppress(Exception):
                    process.join(timeout=5)
        self.close_pipes()

    def close_pipes(self) -> None:
        for end in (self.conn, self.lifeline):
            if end is not None:
                with contextlib.suppress(Exception):
                    end.close()


class ProcessPool:
    """``size`` worker processes running ``target(conn, lifeline)`` (``_worker.serve``).

    A subclass may reach workers of another kind (``worker_class``: a :class:`_Worker` whose
    ``_start`` connects it, ``stop`` ends it); jobs, parts, cancellation and the failure of a
    lost worker work the same.
    """

    worker_class: type[_Worker] = _Worker
    #: the least time between two sends of posted jobs to one worker (seconds): 0 for
    #: processes (a pipe write is cheap), more where each send is a remote call
    send_interval = 0.0

    def __init__(self, size: int, target: Callable[[Connection, Connection], None]) -> None:
        methods = multiprocessing.get_all_start_methods()
        self._context: Any = multiprocessing.get_context(
            "forkserver" if "forkserver" in methods else "spawn"
        )
        self._target = target
        self.size = size
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._closed = False
        _open_pools.add(self)

    @property
    def workers(self) -> int:
        """How many worker processes exist (or are starting) right now."""
        with self._lock:
            return len(self._workers)

    def worker_pids(self) -> list[int]:
        with self._lock:
            workers = list(self._workers)
        return [p for p in (w.pid() for w in workers) if p is not None]

    def submit(
        self,
        payload: bytes,
        what: str,
        *,
        weight: int = 1,
        on_part: Callable[[bytes], None] | None = None,
        interruptible: bool = False,
    ) -> Job:
        """Send ``payload`` to the least loaded worker (starting one if the pool is not full
        and every worker is busy); ``what`` names the job in errors."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._closed:
                raise ExecutorError("the process pool is closed")
            job = Job(next(self._ids), loop, what, weight, on_part, interruptible)
            while True:
                worker = self._choose()
                if worker.take(job):
                    break
                self._forget_locked(worker)
        # gone before it is sent: its reader thread fails the job as died
        worker.post(loop, "job", job.id, payload)
        return job

    def _choose(self) -> _Worker:
        live = [w for w in self._workers if not w.dead]
        idle = [w for w in live if w.load == 0]
        if idle:
            return idle[0]
        if len(live) < self.size:
            worker = self.worker_class(self)
            self._workers.append(worker)
            return worker
        return min(live, key=lambda w: w.load)

    def _forget(self, worker: _Worker) -> None:
        with self._lock:
            self._forget_locked(worker)

    def _forget_locked(self, worker: _Worker) -> None:
        if worker in self._workers:
            self._workers.remove(worker)

    def close(self, timeout: float = 5.0) -> None:
        """Stop every worker; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            workers, self._workers = list(self._workers), []
        for worker in workers:
            worker.stop(timeout)


#: the worker's side of the pool, for pools that reach workers of another kind
Worker = _Worker


@atexit.register
def _close_open_pools() -> None:
    for pool in list(_open_pools):
        pool.close(timeout=1.0)
