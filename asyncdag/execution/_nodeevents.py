"""Node events: the lifecycle hooks of one node call, fired in the run's name.

The engine reports a node call in two places: where it ran on the loop (an async step, an
inline sync step, an expander), and where a record of it comes back from elsewhere (a thread
hop or a worker process ran the instance and sent back ``_blockrun.NodeRecord`` s, fired here
in order). Both go through :func:`node_started` / :func:`node_finished`, so every node event
has the same keywords wherever the node ran. Firing a hook is the run's job
(:meth:`Run.hook`, which attributes a hook's own exception to the hook); this module only
says what is fired.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from asyncdag.execution._plan import CallStep, ExpandStep
from asyncdag.execution._run import Run

__all__ = ["as_error", "node_finished", "node_started", "relay", "task_id"]


def task_id(index: tuple[int, ...]) -> str | None:
    """An item's index path as hooks name it: ``"3"``, ``"3/7"``; ``None`` outside blocks."""
    return "/".join(map(str, index)) if index else None


def node_started(
    run: Run,
    step: CallStep | ExpandStep,
    index: tuple[int, ...],
    label: str | None,
    executor: str,
    **extra: Any,
) -> None:
    """``run_before_node_execution`` for one call of ``step`` at item ``index``."""
    run.hook(
        "run_before_node_execution",
        node_name=step.name,
        node_tags=dict(step.node.tags),
        index=index,
        task_id=task_id(index),
        label=label,
        executor=executor,
        **extra,
    )


def node_finished(
    run: Run,
    step: CallStep | ExpandStep,
    index: tuple[int, ...],
    label: str | None,
    executor: str,
    result: Any,
    error: BaseException | None,
    attempts: int,
    **extra: Any,
) -> None:
    """``run_after_node_execution`` for one call of ``step`` at item ``index``."""
    run.hook(
        "run_after_node_execution",
        node_name=step.name,
        node_tags=dict(step.node.tags),
        index=index,
        task_id=task_id(index),
        label=label,
        result=result,
        error=error,
        success=error is None,
        attempts=attempts,
        executor=executor,
        **extra,
    )


_TASK_EVENTS = ("run_before_task_execution", "run_after_task_execution")


def relay(
    run: Run,
    steps: Mapping[str, CallStep],
    records: Iterable[Any],
    executor: Callable[[], str],
) -> None:
    """Fire, in order, the hooks of node calls that ran elsewhere: each record is a
    ``_blockrun.NodeRecord`` (a call, or a retry about to start) of an item, with its own
    index, label and times. ``executor()`` names where they ran."""
    hooks = run.hooks
    if hooks is None:
        return
    for rec in records:
        if rec.kind == "hook":  # an event of an expansion nested in the item
            if rec.node in hooks.by_name:
                extra: dict[str, Any] = {}
                if rec.node in _TASK_EVENTS:
                    extra["executor"] = executor()
                if rec.node == "run_after_task_execution":
                    extra["error"] = None if rec.ok else as_error(rec.value)
                run.hook(rec.node, **rec.kwargs, **extra)
            continue
        step = steps.get(rec.node)
        if step is None:
            continue
        if rec.kind == "retry":
            if hooks.retry:
                run.hook(
                    "run_before_node_retry",
                    node_name=rec.node,
                    index=rec.index,
                    task_id=task_id(rec.index),
                    label=rec.label,
                    attempt=rec.attempts,
                    error=as_error(rec.value),
                    delay=rec.delay,
                )
            continue
        stamps = {"started_at": rec.started_at, "ended_at": rec.ended_at}
        if hooks.before_node:
            extra = dict(stamps)
            if hooks.node_inputs:
                extra["node_kwargs"] = rec.kwargs
            node_started(run, step, rec.index, rec.label, executor(), **extra)
        if hooks.after_node:
            error = None if rec.ok else as_error(rec.value)
            node_finished(
                run,
                step,
                rec.index,
                rec.label,
                executor(),
                rec.value if rec.ok else None,
                error,
                rec.attempts,
                **stamps,
            )


def as_error(value: Any) -> BaseException:
    """The exception a record carries (an error record from a worker becomes a stand-in)."""
    if isinstance(value, BaseException):
        return value
    if isinstance(value, tuple) and len(value) == 4:  # an error record from a worker
        return RuntimeError(f"{value[0]}: {value[1]}")
    return RuntimeError(repr(value))
