"""What running code can know about the run and the node call it belongs to.

The engine sets two context variables: the *run* (for everything a run executes: node calls,
generators, wrappers made by ``LifecycleHooks.wrap_node``) and, around a node call, the *call*
(the node, the item's index path and label, the attempt). They follow the work onto the
threads and event loops the run uses, so a policy or a wrapper reads them wherever the node
runs. Outside a run both are ``None``.

Example (inside a node)::

    from asyncdag import check_cancelled

    def crunch(rows: list[int]) -> int:
        total = 0
        for i, row in enumerate(rows):
            if i % 10_000 == 0:
                check_cancelled()      # raises once the run is cancelled or has failed
            total += row
        return total
"""

from __future__ import annotations

import asyncio
import itertools
import os
from contextvars import ContextVar
from typing import Any

__all__ = [
    "CallInfo",
    "RunInfo",
    "check_cancelled",
    "current_call",
    "current_run",
    "new_run_id",
]

#: run ids: 24 random hex digits for this process (drawn again in a forked child, and when
#: the counter runs out), then a counter of 8
_run_prefix = os.urandom(12).hex()
_run_numbers = itertools.count()


def _new_prefix() -> None:
    global _run_prefix, _run_numbers
    _run_prefix = os.urandom(12).hex()
    _run_numbers = itertools.count()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_prefix)


def new_run_id() -> str:
    """A new run's id: 32 hex digits, unique across processes (as ``uuid4().hex`` would be:
    96 random bits a process), made without a system call per run."""
    n = next(_run_numbers)
    if n > 0xFFFFFFFF:
        _new_prefix()
        n = next(_run_numbers)
    return f"{_run_prefix}{n:08x}"


class RunInfo:
    """One run as running code sees it: its id, and whether it is still wanted."""

    __slots__ = ("cancelled", "limiters", "run_id")

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        #: set by the engine when the run fails or is cancelled: no new work will start
        self.cancelled = False
        #: the executor limiters the run holds slots of (engine use: a run started from inside
        #: this one runs in those slots rather than wait for them)
        self.limiters: Any = ()

    def __repr__(self) -> str:
        return f"RunInfo({self.run_id!r}, cancelled={self.cancelled})"


class CallInfo:
    """One node call: which node, which item, which attempt.

    A policy that calls the node's function again (``retry``) reports it with
    :meth:`retrying`, so that lifecycle hooks and summaries count the attempt.
    """

    __slots__ = ("_held", "_label", "_on_retry", "attempt", "index", "node", "owner", "run")

    def __init__(
        self,
        run: RunInfo,
        node: str,
        index: tuple[int, ...] = (),
        label: Any = None,
        on_retry: Any = None,
        held: Any = None,
        owner: Any = None,
    ) -> None:
        self.run = run
        self.node = node
        self.index = index
        self._label = label  # a string, or a function that makes it (labels are lazy)
        self.attempt = 1
        self._on_retry = on_retry
        self._held = held
        #: engine use: the block instance the call belongs to, asked for the label, the held
        #: slot and the retry reporter only when someone wants them (a call then costs one
        #: object, not three)
        self.owner = owner

    @property
    def label(self) -> str | None:
        """The item's short label (``None`` outside blocks)."""
        label = self._label
        if label is None and self.owner is not None:
            label = self._label = self.owner.label()
        elif callable(label):
            label = self._label = label()
        return label if label is None else str(label)

    @property
    def on_retry(self) -> Any:
        """Set by the engine: called as ``on_retry(call, error, delay)``."""
        owner = self.owner
        return self._on_retry if owner is None else owner.on_retry

    @property
    def held(self) -> Any:
        """The executor limiter whose slot this call's block instance holds (engine use: a
        run started from inside this call runs in that slot instead of waiting for one)."""
        owner = self.owner
        return self._held if owner is None else owner.held()

    def retrying(self, error: BaseException | None, delay: float) -> None:
        """The node's call failed with ``error`` (``None``: it returned a value the policy
        rejects) and will be tried again in ``delay`` s."""
        self.attempt += 1
        on_retry = self.on_retry
        if on_retry is not None:
            on_retry(self, error, delay)

    def __repr__(self) -> str:
        return f"CallInfo({self.node!r}, {self.index}, attempt={self.attempt})"


_RUN: ContextVar[RunInfo | None] = ContextVar("asyncdag_run", default=None)
_CALL: ContextVar[CallInfo | None] = ContextVar("asyncdag_call", default=None)


def current_run() -> RunInfo | None:
    """The run the calling code belongs to, or ``None`` outside any run."""
    return _RUN.get()


def current_call() -> CallInfo | None:
    """The node call the calling code belongs to, or ``None`` outside a node call."""
    return _CALL.get()


def check_cancelled() -> None:
    """Raise ``asyncio.CancelledError`` if the run of the calling code is over.

    A cheap check for long sync node functions: a sync call already running when its run is
    cancelled (or fails) is not interrupted, but it can stop early by calling this now and
    then. Outside a run it does nothing.
    """
    run = _RUN.get()
    if run is not None and run.cancelled:
        raise asyncio.CancelledError(f"run {run.run_id} was cancelled")


def enter_call(call: CallInfo | None) -> Any:
    """Make ``call`` the current node call of this context (engine use; ``None``: none)."""
    return _CALL.set(call)


def switch_call(call: CallInfo | None) -> Any:
    """Make ``call`` (``None``: no call) current around one sync call; returns the token for
    :func:`exit_call`, or ``None`` when nothing had to change (engine use)."""
    if call is None and _CALL.get() is None:
        return None
    return _CALL.set(call)


def exit_call(token: Any) -> None:
    _CALL.reset(token)


def enter_run(run: RunInfo) -> Any:
    """Make ``run`` the current run of this context; returns the token for :func:`exit_run`."""
    return _RUN.set(run)


def exit_run(token: Any) -> None:
    _RUN.reset(token)
