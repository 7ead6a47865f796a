"""A pool of worker processes that asyncdag owns, so it can recycle one that is stuck or dead.

Who owns what
-------------
- The pool owns its worker processes. Workers start with ``forkserver`` where available
  (``spawn`` elsewhere): never by forking a process that runs an event loop and threads. They
  are started lazily, reused across runs and event loops, and replaced when they die.
- Each task in flight is owned by one *courier* thread (a small thread pool, one thread per
  worker): it takes an idle worker, sends the payload over the worker's pipe and waits for the
  answer, polling every ``POLL`` seconds for the task's cancellation and the worker's death.
  The courier is loop-agnostic, so one pool serves ``execute()`` (a private loop per thread)
  and ``aexecute()`` callers alike.

Bounds
------
At most ``size`` workers and ``size`` tasks in flight; a task waiting for a worker waits in the
courier pool's queue. The executor's ``max_tasks`` limiter admits no more than that.

Errors and cancellation
-----------------------
- A worker that dies mid-task (crash, ``os._exit``, OOM kill) raises ``WorkerDiedError``
  naming the task; the dead worker is replaced, so the next task works.
- A cancelled task that has not reached a worker is dropped. One already running on a worker
  is abandoned by killing that worker (its state is unknown) and starting a fresh one: nothing
  of a cancelled run keeps a worker busy.
- ``close()`` asks idle workers to stop, waits briefly, and kills the rest. Pools still open at
  interpreter exit are closed by an ``atexit`` hook, so no worker outlives its parent.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import multiprocessing.spawn as mp_spawn
import queue
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from multiprocessing.connection import Connection
from typing import Any

from asyncdag.errors import ExecutorError, WorkerDiedError

__all__ = ["ProcessPool", "TaskCancelled"]

POLL = 0.05  # seconds between checks for cancellation and worker death while waiting
_STOP = b"\0stop"

_open_pools: weakref.WeakSet[ProcessPool] = weakref.WeakSet()


class TaskCancelled(Exception):
    """The task was cancelled while it waited or ran; its worker, if any, was replaced."""


_start_lock = threading.Lock()


def _preparation_without_main(name: str) -> dict[str, Any]:
    data: dict[str, Any] = _original_preparation(name)
    data.pop("init_main_from_path", None)
    data.pop("init_main_from_name", None)
    return data


_original_preparation = mp_spawn.get_preparation_data


class _Worker:
    __slots__ = ("conn", "lifeline", "process")

    def __init__(self, context: Any, initializer: Callable[[Connection, Connection], None]) -> None:
        parent_end, child_end = multiprocessing.Pipe(duplex=True)
        # The lifeline is never written: the worker watches its end on a thread of its own and
        # exits when it reads EOF, which the kernel delivers the moment this process dies,
        # however it dies (SIGKILL included) and whatever the worker is busy with.
        watched_end, held_end = multiprocessing.Pipe(duplex=False)
        self.process = context.Process(
            target=initializer,
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
                self.process.start()
            finally:
                mp_spawn.get_preparation_data = _original_preparation
        child_end.close()
        watched_end.close()
        self.conn: Connection = parent_end
        self.lifeline: Connection = held_end  # held open (never written) for the worker's life

    def alive(self) -> bool:
        return bool(self.process.is_alive())

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
        with contextlib.suppress(Exception):
            self.process.join(timeout=5)
        with contextlib.suppress(Exception):
            self.conn.close()
        with contextlib.suppress(Exception):
            self.lifeline.close()

    def stop(self, timeout: float) -> None:
        with contextlib.suppress(Exception):
            self.conn.send_bytes(_STOP)
        self.process.join(timeout=timeout)
        if self.process.is_alive():
            self.kill()
        with contextlib.suppress(Exception):
            self.conn.close()
        with contextlib.suppress(Exception):
            self.lifeline.close()


_Job = tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]


class _Couriers:
    """Daemon threads that carry tasks to workers, one per worker at most, started lazily.

    Daemon threads, not a ``ThreadPoolExecutor``: the interpreter joins an executor's threads
    at exit before ``atexit`` hooks run, so a courier waiting on a busy worker would hold the
    exit until that task ended; a daemon courier lets the ``atexit`` hook stop the workers.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if len(self._threads) < self._size:
                thread = threading.Thread(target=self._serve, name="asyncdag-courier", daemon=True)
                self._threads.append(thread)
                thread.start()
        self._queue.put((future, fn, args))
        return future

    def _serve(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            future, fn, args = job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except BaseException as exc:
                    future.set_exception(exc)

    def shutdown(self) -> None:
        while True:  # drop queued work
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job[0].cancel()
        for _ in self._threads:
            self._queue.put(None)


class ProcessPool:
    """``size`` worker processes running ``target(conn, lifeline)``: a loop answering
    payloads, which exits when ``lifeline`` reads EOF (this process is gone)."""

    def __init__(self, size: int, target: Callable[[Connection, Connection], None]) -> None:
        methods = multiprocessing.get_all_start_methods()
        self._context = multiprocessing.get_context(
            "forkserver" if "forkserver" in methods else "spawn"
        )
        self._target = target
        self.size = size
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._couriers = _Couriers(size)
        self._closed = False
        _open_pools.add(self)

    @property
    def workers(self) -> int:
        """How many worker processes exist right now."""
        with self._lock:
            return len(self._all)

    def worker_pids(self) -> list[int]:
        with self._lock:
            return [w.process.pid for w in self._all if w.process.pid is not None]

    def submit(self, payload: bytes, what: str, cancelled: threading.Event) -> Future[bytes]:
        """Send ``payload`` to a worker; a future of the worker's answer.

        ``what`` names the task in errors; setting ``cancelled`` abandons it.
        """
        if self._closed:
            raise ExecutorError("the process pool is closed")
        return self._couriers.submit(self._carry, payload, what, cancelled)

    def _take_worker(self) -> _Worker:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if self._closed:
                raise ExecutorError("the process pool is closed")
            # A courier exists per worker, so a courier without an idle worker may start one.
            worker = _Worker(self._context, self._target)
            self._all.add(worker)
            return worker

    def _retire(self, worker: _Worker) -> None:
        worker.kill()
        with self._lock:
            self._all.discard(worker)

    def _carry(self, payload: bytes, what: str, cancelled: threading.Event) -> bytes:
        if cancelled.is_set():
            raise TaskCancelled(what)
        worker = self._take_worker()
        try:
            worker.conn.send_bytes(payload)
        except (OSError, EOFError) as exc:
            self._retire(worker)
            raise WorkerDiedError(
                f"the worker for {what} was gone before the task started"
            ) from exc
        while True:
            if cancelled.is_set():
                # The worker is busy with work nobody wants: replace it rather than wait.
                self._retire(worker)
                raise TaskCancelled(what)
            try:
                ready = worker.conn.poll(POLL)
            except (OSError, EOFError):
                ready = True
            if ready:
                try:
                    answer = worker.conn.recv_bytes()
                except (OSError, EOFError) as exc:
                    worker.process.join(timeout=1.0)  # reap it, to report its exit code
                    code = worker.process.exitcode
                    self._retire(worker)
                    raise WorkerDiedError(
                        f"the worker process running {what} died (exit code {code}); it was"
                        " replaced, so later tasks run on a fresh worker"
                    ) from exc
                self._idle.put(worker)
                return answer
            if not worker.alive():
                worker.process.join(timeout=1.0)
                code = worker.process.exitcode
                self._retire(worker)
                raise WorkerDiedError(
                    f"the worker process running {what} died (exit code {code}); it was"
                    " replaced, so later tasks run on a fresh worker"
                )

    def close(self, timeout: float = 5.0) -> None:
        """Stop every worker; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            workers = list(self._all)
            self._all.clear()
        self._couriers.shutdown()
        for worker in workers:
            worker.stop(timeout)


@atexit.register
def _close_open_pools() -> None:
    for pool in list(_open_pools):
        pool.close(timeout=1.0)
