"""OpenTelemetry spans for asyncdag runs: one per run, per block instance and per node call.

Example::

    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    from asyncdag import driver
    from asyncdag.plugins.h_opentelemetry import OpenTelemetryTracer

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)

    dr = driver.Builder().with_modules(crawl).with_adapters(OpenTelemetryTracer()).build()

``pip install 'asyncdag[otel]'`` installs the API and the SDK. The module and class names are
Hamilton's (``hamilton.plugins.h_opentelemetry.OpenTelemetryTracer``), so a ported app keeps
its import.

How the spans nest::

    asyncdag.run                      (child of the span current where the run started:
    ├── url                            a web request's span, say)
    ├── block url                     one per item: asyncdag.index, asyncdag.label
    │   ├── page                      a node call: asyncdag.node, .index, .label, .outcome
    │   └── page_stats
    └── totals

Attributes: ``asyncdag.run_id`` everywhere; ``asyncdag.node``, ``asyncdag.index`` (the item's
index path, ``[]`` outside blocks), ``asyncdag.label`` (the item's label, when the engine
gives one), ``asyncdag.executor`` (when the engine says), ``asyncdag.attempts`` and
``asyncdag.outcome`` (``done`` or ``failed`` for a node call; ``done``, ``delivered``,
``skipped`` or ``failed`` for a block instance; ``done``, ``failed`` or ``stopped`` for the
run). A failure sets the span's status to ERROR and records the exception.

Timing: spans start and end when the engine's events arrive, on the loop that runs the run.
For nodes that ran in a worker process (or a thread, in one piece) the engine reports the
events afterwards with ``started_at`` / ``ended_at``: those spans get exactly those times, so
the trace shows when the work really ran, under the run's trace like every other span.

While a node call runs, its span is the current span (through ``wrap_node``), so spans that
the node's own code makes — an instrumented HTTP client, say — nest under it.
"""

from __future__ import annotations

import functools
import time
import uuid
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

try:
    from opentelemetry import context as otel_context
    from opentelemetry import trace
except ImportError as exc:  # pragma: no cover - the extra is not installed
    raise ImportError(
        "asyncdag.plugins.h_opentelemetry needs OpenTelemetry: pip install 'asyncdag[otel]'"
    ) from exc

from asyncdag._calls import current_call
from asyncdag.lifecycle import LifecycleHooks

__all__ = ["OpenTelemetryTracer"]

#: tracers of this process, by token: a node wrapper finds its tracer here (in a worker
#: process it finds none, and calls the node as it is)
_tracers: weakref.WeakValueDictionary[str, OpenTelemetryTracer] = weakref.WeakValueDictionary()


def _ns(seconds: float | None) -> int:
    """A ``time.time()`` float as OpenTelemetry's nanoseconds; now when ``None``."""
    return time.time_ns() if seconds is None else int(seconds * 1e9)


class _RunSpans:
    __slots__ = ("context", "nodes", "span", "tasks")

    def __init__(self, span: trace.Span) -> None:
        self.span = span
        self.context = trace.set_span_in_context(span)
        self.tasks: dict[str, trace.Span] = {}
        self.nodes: dict[tuple[str, tuple[int, ...]], trace.Span] = {}

    def parent(self, task_id: str | None) -> Any:
        """The context a span of ``task_id``'s work starts in: the innermost open task's."""
        while task_id:
            span = self.tasks.get(task_id)
            if span is not None:
                return trace.set_span_in_context(span)
            task_id = task_id.rpartition("/")[0]
        return self.context


def _task_of(index: tuple[int, ...]) -> str | None:
    return "/".join(map(str, index)) if index else None


class OpenTelemetryTracer(LifecycleHooks):
    """Reports every run as OpenTelemetry spans: the run, each block instance, each node call.

    Parameters:
        tracer_name: the name of the tracer to take from the global tracer provider
            (default ``"asyncdag"``).
        tracer: a tracer to use instead (e.g. ``provider.get_tracer(...)``).

    Concurrent runs each get their own trace tree, on any number of event loops.
    """

    def __init__(self, tracer_name: str | None = None, tracer: trace.Tracer | None = None) -> None:
        self.tracer = tracer if tracer is not None else trace.get_tracer(tracer_name or "asyncdag")
        self._runs: dict[str, _RunSpans] = {}
        self._token = uuid.uuid4().hex
        _tracers[self._token] = self

    # -- the run ---------------------------------------------------------------------------

    def run_before_graph_execution(
        self, *, run_id: str, final_vars: Sequence[str] = (), **_: Any
    ) -> None:
        span = self.tracer.start_span(
            "asyncdag.run",
            attributes={"asyncdag.run_id": run_id, "asyncdag.outputs": list(final_vars)},
        )
        self._runs[run_id] = _RunSpans(span)

    def run_after_graph_execution(
        self, *, run_id: str, success: bool, error: BaseException | None = None, **_: Any
    ) -> None:
        run = self._runs.pop(run_id, None)
        if run is None:
            return
        outcome = "done" if success else ("failed" if isinstance(error, Exception) else "stopped")
        # what is still open was cut short by the run's end
        for span in [*run.nodes.values(), *run.tasks.values()]:
            span.set_attribute("asyncdag.outcome", "stopped")
            span.set_status(trace.Status(trace.StatusCode.ERROR, "the run ended first"))
            span.end()
        _finish(run.span, outcome, error if isinstance(error, Exception) else None)
        run.span.end()

    # -- block instances -------------------------------------------------------------------

    def run_before_task_execution(
        self,
        *,
        run_id: str,
        task_id: str,
        expander: str,
        index: tuple[int, ...],
        **extra: Any,
    ) -> None:
        run = self._runs.get(run_id)
        if run is None:
            return
        attributes: dict[str, Any] = {
            "asyncdag.run_id": run_id,
            "asyncdag.expander": expander,
            "asyncdag.index": list(index),
            "asyncdag.task_id": task_id,
        }
        _optional(attributes, extra)
        parent = run.parent(task_id.rpartition("/")[0])
        run.tasks[task_id] = self.tracer.start_span(
            f"block {expander}",
            context=parent,
            attributes=attributes,
            start_time=_ns(extra.get("started_at")),
        )

    def run_after_task_execution(
        self,
        *,
        run_id: str,
        task_id: str,
        success: bool,
        error: BaseException | None = None,
        outcome: str | None = None,
        **extra: Any,
    ) -> None:
        run = self._runs.get(run_id)
        span = run.tasks.pop(task_id, None) if run is not None else None
        if span is None:
            return
        if outcome is None:
            outcome = "done" if success else "failed"
        _finish(span, outcome, error if isinstance(error, Exception) else None)
        span.end(end_time=_ns(extra.get("ended_at")))

    # -- node calls ------------------------------------------------------------------------

    def run_before_node_execution(
        self,
        *,
        run_id: str,
        node_name: str,
        index: tuple[int, ...],
        task_id: str | None = None,
        **extra: Any,
    ) -> None:
        run = self._runs.get(run_id)
        if run is None:
            return
        attributes: dict[str, Any] = {
            "asyncdag.run_id": run_id,
            "asyncdag.node": node_name,
            "asyncdag.index": list(index),
        }
        _optional(attributes, extra)
        run.nodes[node_name, index] = self.tracer.start_span(
            node_name,
            context=run.parent(task_id if task_id is not None else _task_of(index)),
            attributes=attributes,
            start_time=_ns(extra.get("started_at")),
        )

    def run_after_node_execution(
        self,
        *,
        run_id: str,
        node_name: str,
        index: tuple[int, ...],
        success: bool,
        error: BaseException | None = None,
        task_id: str | None = None,
        **extra: Any,
    ) -> None:
        run = self._runs.get(run_id)
        if run is None:
            return
        span = run.nodes.pop((node_name, index), None)
        if span is None:  # reported in one piece, afterwards: start it now, at its start
            self.run_before_node_execution(
                run_id=run_id, node_name=node_name, index=index, task_id=task_id, **extra
            )
            span = run.nodes.pop((node_name, index))
        _optional(span, extra)
        _finish(
            span, "done" if success else "failed", error if isinstance(error, Exception) else None
        )
        span.end(end_time=_ns(extra.get("ended_at")))

    def run_before_node_retry(
        self,
        *,
        run_id: str,
        node_name: str,
        index: tuple[int, ...],
        attempt: int,
        error: BaseException | None = None,
        delay: float | None = None,
        **_: Any,
    ) -> None:
        run = self._runs.get(run_id)
        span = run.nodes.get((node_name, index)) if run is not None else None
        if span is None:
            return
        attributes: dict[str, Any] = {"asyncdag.attempt": attempt}
        if delay is not None:
            attributes["asyncdag.delay"] = delay
        if error is not None:
            attributes["exception.type"] = type(error).__name__
            attributes["exception.message"] = str(error)
        span.add_event("retry", attributes=attributes)

    # -- the node's own spans --------------------------------------------------------------

    def wrap_node(
        self,
        *,
        node_name: str,
        fn: Callable[..., Any],
        is_async: bool,
        is_expander: bool,
        **_: Any,
    ) -> Callable[..., Any] | None:
        """Make the node call's span current while the node runs, so that spans made by the
        node's own code nest under it (found through the engine's ``current_call()``)."""
        if is_expander:
            return None  # a generator's items leave it between resumptions: no one span
        token = self._token
        if is_async:

            @functools.wraps(fn)
            async def call_async(*args: Any, **kwargs: Any) -> Any:
                context = _node_context(token)
                if context is None:
                    return await fn(*args, **kwargs)
                attached = otel_context.attach(context)
                try:
                    return await fn(*args, **kwargs)
                finally:
                    otel_context.detach(attached)

            return call_async

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            context = _node_context(token)
            if context is None:
                return fn(*args, **kwargs)
            attached = otel_context.attach(context)
            try:
                return fn(*args, **kwargs)
            finally:
                otel_context.detach(attached)

        return call


def _node_context(token: str) -> Any:
    """The context holding the span of the node call running here, or ``None`` (no tracer
    in this process, no call known, or its span is not open)."""
    tracer = _tracers.get(token)
    call = current_call()
    if tracer is None or call is None:
        return None
    run = tracer._runs.get(call.run.run_id)
    span = run.nodes.get((call.node, call.index)) if run is not None else None
    return trace.set_span_in_context(span) if span is not None else None


def _optional(target: dict[str, Any] | trace.Span, extra: Mapping[str, Any]) -> None:
    """The attributes the engine may add: label, executor, attempts."""
    found: dict[str, Any] = {}
    label = extra.get("label")
    if label is not None:
        found["asyncdag.label"] = str(label)
    executor = extra.get("executor")
    if executor is not None:
        found["asyncdag.executor"] = (
            executor if isinstance(executor, str) else type(executor).__name__
        )
    attempts = extra.get("attempts")
    if attempts is not None:
        found["asyncdag.attempts"] = int(attempts)
    if isinstance(target, dict):
        target.update(found)
    elif found:
        target.set_attributes(found)


def _finish(span: trace.Span, outcome: str, error: Exception | None) -> None:
    """Set the outcome; anything but ``done`` is an ERROR status (a delivered or skipped item
    failed too, even though its run went on)."""
    span.set_attribute("asyncdag.outcome", outcome)
    if error is not None:
        span.record_exception(error)
    if outcome == "done":
        span.set_status(trace.Status(trace.StatusCode.OK))
    else:
        detail = f"{type(error).__name__}: {error}" if error is not None else outcome
        span.set_status(trace.Status(trace.StatusCode.ERROR, detail))
