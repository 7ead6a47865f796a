"""``execute()`` inside a Jupyter / IPython kernel, whose own event loop is already running.

A kernel runs every cell inside its event loop, so a plain ``execute()`` there would have to
block the loop it runs on. Instead the run goes to a private event loop on a helper thread
("asyncdag-notebook", one per process, started on first use and reused, so per-worker
resources built on it stay valid from one cell to the next), and the cell's thread waits for
the result:

- the run's value is returned, and its exception is raised, exactly as ``execute()`` would;
- an interrupt (the notebook's ■ button: ``KeyboardInterrupt`` in the waiting thread)
  cancels the run on the helper loop, waits until its cancellation has finished (nodes
  cancelled, generators closed), then raises ``KeyboardInterrupt``; a second interrupt stops
  the waiting at once.

Detection never imports IPython: only a kernel's shell (``get_ipython().kernel``) counts, so
a terminal IPython session or a plain script keeps ``RunningLoopError``.
"""

from __future__ import annotations

import asyncio
import atexit
import sys
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["in_kernel", "run_in_helper_loop"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def in_kernel() -> bool:
    """Whether this process is a running IPython kernel (Jupyter, VS Code, JupyterLab...)."""
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    if get_ipython is None:
        return False
    try:
        shell = get_ipython()
    except Exception:  # a half-imported or odd IPython: not a kernel we know
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


def _helper_loop() -> asyncio.AbstractEventLoop:
    """The helper thread's loop, started on first use."""
    global _loop, _thread
    with _lock:
        if _loop is not None and _thread is not None and _thread.is_alive():
            return _loop
        loop: asyncio.AbstractEventLoop
        try:
            import uvloop

            loop = uvloop.new_event_loop()
        except ImportError:  # pragma: no cover - uvloop installs wherever it is supported
            loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        thread = threading.Thread(target=serve, name="asyncdag-notebook", daemon=True)
        thread.start()
        ready.wait()
        _loop, _thread = loop, thread
        return loop


def _stop_helper() -> None:
    loop, thread = _loop, _thread
    if loop is not None and thread is not None and thread.is_alive():
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)


atexit.register(_stop_helper)


async def _guarded(coro: Coroutine[Any, Any, T], finished: threading.Event) -> T:
    try:
        return await coro
    finally:
        finished.set()


def run_in_helper_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the helper thread's loop and return its result (or raise its error).

    ``KeyboardInterrupt`` while waiting cancels ``coro`` and waits for its cleanup before it
    propagates. Must not be called from the helper loop itself.
    """
    loop = _helper_loop()
    finished = threading.Event()
    future = asyncio.run_coroutine_threadsafe(_guarded(coro, finished), loop)
    try:
        return future.result()
    except KeyboardInterrupt:
        future.cancel()  # the run's task is cancelled on its own loop
        try:
            while not finished.wait(0.1):  # short waits: a second interrupt gets through
                pass
        except KeyboardInterrupt:
            pass  # asked twice: stop waiting, the cleanup goes on in the helper thread
        raise
