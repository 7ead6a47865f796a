"""A bounded pool of daemon threads that hands results back to event loops.

Who owns what
-------------
A :class:`ThreadPool` owns its threads: at most ``size``, started when work arrives and none
is idle, leaving after ``IDLE_SECONDS`` without work. They are daemon threads, so a sync call
that never returns does not hold the interpreter's exit (a ``ThreadPoolExecutor``'s threads
are joined at exit). Each piece of work is a :class:`Job`: a function, its arguments, the
``contextvars.Context`` it runs in, and the asyncio future its result goes to, on the loop
that asked (``call_soon_threadsafe``; nothing else crosses threads).

Bounds
------
``size`` threads run jobs; the rest wait in the queue, in order. A thread that blocks on its
loop from inside a job (a sync collector waiting for the next item of its stream, see
:meth:`blocking`) does not count while it waits: the pool may start one more thread for
the queue meanwhile, so sync readers of streams cannot take every thread from the producers
they wait for. Once the reader is back, the first thread to finish a job leaves if the pool
is over its size.

Errors and cancellation
-----------------------
An exception from the function becomes the future's exception. A job whose future was
cancelled before a thread took it never runs. A job that has started cannot be interrupted;
its result is dropped if nobody waits any more. A loop that is closed when a result arrives
drops it. ``close()`` drops queued jobs (their futures are cancelled) and lets running ones
finish on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["Job", "ThreadPool"]

_here = threading.local()  # .pool: the ThreadPool the current thread belongs to


class Job:
    """One call to run on a pool thread; ``started`` flips when a thread takes it."""

    __slots__ = ("args", "context", "fn", "future", "loop", "started")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        context: contextvars.Context,
    ) -> None:
        self.loop = loop
        self.fn = fn
        self.args = args
        self.context = context
        self.future: asyncio.Future[Any] = loop.create_future()
        self.started = False


def _settle(fut: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if fut.done():
        return
    if ok:
        fut.set_result(value)
    elif isinstance(value, asyncio.CancelledError):
        fut.cancel()  # the run's cancellation, seen on the thread (check_cancelled)
    else:
        fut.set_exception(value)


class ThreadPool:
    """At most ``size`` daemon threads named ``name-N`` running :class:`Job` s."""

    IDLE_SECONDS = 30.0

    def __init__(self, size: int, name: str) -> None:
        if size < 1:
            raise ValueError(f"a thread pool needs at least one thread, got {size}")
        self.size = size
        self.name = name
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._waiting = 0  # threads blocked on the queue
        self._pending = 0  # jobs in the queue not taken yet
        self._busy = 0
        self._blocked = 0  # threads inside blocking(): they do not count against size
        self._closed = False
        self._serial = 0

    def __repr__(self) -> str:
        return f"ThreadPool({self.name!r}, size={self.size})"

    @staticmethod
    def current() -> ThreadPool | None:
        """The pool the calling thread belongs to, if any."""
        pool: ThreadPool | None = getattr(_here, "pool", None)
        return pool

    @property
    def busy(self) -> int:
        """How many threads are running a job now."""
        return self._busy

    @property
    def threads(self) -> int:
        """How many threads exist now."""
        return self._threads

    def submit(
        self,
        loop: asyncio.AbstractEventLoop,
        fn: Callable[..., Any],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> Job:
        """Queue ``fn(*args)``; its result arrives in ``job.future`` on ``loop``."""
        job = Job(loop, fn, args, context if context is not None else contextvars.copy_context())
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self!r} is closed")
            self._jobs.put(job)
            self._pending += 1
            if self._pending <= self._waiting or self._threads >= self.size + self._blocked:
                return job  # a waiting thread takes it, or a busy one when it is free
            name = self._new_thread()
        threading.Thread(target=self._serve, name=name, daemon=True).start()
        return job

    def _new_thread(self) -> str:
        self._threads += 1
        self._serial += 1
        return f"{self.name}-{self._serial}"

    @contextlib.contextmanager
    def blocking(self) -> Iterator[None]:
        """On a thread of this pool: a wait for the loop (not work) happens inside; the
        thread does not count against ``size`` meanwhile."""
        name = None
        with self._lock:
            self._blocked += 1
            if self._pending > self._waiting and self._threads < self.size + self._blocked:
                name = self._new_thread()  # queued work would wait for this thread
        if name is not None:
            threading.Thread(target=self._serve, name=name, daemon=True).start()
        try:
            yield
        finally:
            with self._lock:
                self._blocked -= 1

    def _serve(self) -> None:
        _here.pool = self
        jobs, lock = self._jobs, self._lock
        while True:
            with lock:
                if self._threads > self.size + self._blocked:
                    self._threads -= 1  # one started while a reader waited: over size now
                    return
                self._waiting += 1
            try:
                job = jobs.get(timeout=self.IDLE_SECONDS)
            except queue.Empty:
                with lock:
                    self._waiting -= 1
                    if self._pending > self._waiting:
                        continue  # a job arrived as the wait ended: take it
                    self._threads -= 1
                    return
            with lock:
                self._waiting -= 1
                if job is None:  # close()
                    self._threads -= 1
                    return
                self._pending -= 1
            self._run(job)
            del job  # while this thread waits for the next one, hold nothing of the last

    def _run(self, job: Job) -> None:
        if job.future.cancelled():  # nobody wants it any more: never start it
            return
        job.started = True
        with self._lock:
            self._busy += 1
        try:
            value = job.context.run(job.fn, *job.args)
            ok = True
        except BaseException as exc:
            value, ok = exc, False
        finally:
            with self._lock:
                self._busy -= 1
        try:
            job.loop.call_soon_threadsafe(_settle, job.future, ok, value)
        except RuntimeError:  # the loop is closed: the result has nowhere to go
            pass
        finally:
            del value

    def close(self) -> None:
        """Drop queued jobs and let the threads go; running jobs finish on their own."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            threads = self._threads
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                with self._lock:
                    self._pending -= 1
                try:
                    job.loop.call_soon_threadsafe(job.future.cancel)
                except RuntimeError:
                    pass
        for _ in range(threads):
            self._jobs.put(None)
