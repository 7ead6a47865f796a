"""Hamilton's ready-made adapters (``hamilton.lifecycle.default``), written for asyncdag.

Example::

    from asyncdag.lifecycle import default

    dr = (
        driver.Builder()
        .with_modules(my_module)
        .with_adapters(default.GracefulErrorAdapter(error_to_catch=ValueError), default.PrintLn())
        .build()
    )

- :class:`PrintLn` prints each node as it starts and ends (with inputs and result at
  ``verbosity=2``).
- :class:`GracefulErrorAdapter` turns a node's failure into a sentinel value and lets every
  node that needs that value pass the sentinel on without running; inside Parallelizable
  blocks each item fails on its own, and a failing expander ends its stream with a sentinel
  item.
- :func:`accept_error_sentinels` marks a node that wants to receive sentinels and run anyway.
- :class:`PDBDebugger` stops in ``pdb`` before, during or after selected nodes.
- :class:`FunctionInputOutputTypeChecker` checks every node's inputs and result against the
  annotations, at run time.
- :class:`NoEdgeAndInputTypeChecking` turns the build's edge type check and the run's input
  type check off.
"""

from __future__ import annotations

import functools
import inspect
import logging
import pdb
import pprint
import time
from collections.abc import Callable
from typing import Any, TypeVar

from asyncdag.function_modifiers._tags import tag
from asyncdag.graph._types import value_fits
from asyncdag.lifecycle._hamilton import wrap_call
from asyncdag.lifecycle.api import (
    EdgeConnectionHook,
    NodeExecutionHook,
    NodeExecutionMethod,
)

__all__ = [
    "ERROR_SENTINEL_TAG",
    "INJECTION_ALLOWED",
    "FunctionInputOutputTypeChecker",
    "GracefulErrorAdapter",
    "NoEdgeAndInputTypeChecking",
    "NodeFilter",
    "PDBDebugger",
    "PrintLn",
    "accept_error_sentinels",
    "should_run_node",
]

logger = logging.getLogger("asyncdag.lifecycle")

_F = TypeVar("_F", bound=Callable[..., Any])

#: Which nodes an adapter acts on: a predicate of (name, tags), a list of names, one name, or
#: ``None`` for every node.
NodeFilter = Callable[[str, dict[str, Any]], bool] | list[str] | str | None

#: The tag ``accept_error_sentinels`` sets (Hamilton's name, so Hamilton code finds it).
ERROR_SENTINEL_TAG = "hamilton.error_sentinel"
INJECTION_ALLOWED = "injection is requested"


def should_run_node(node_name: str, node_tags: dict[str, Any], node_filter: NodeFilter) -> bool:
    """Whether ``node_filter`` selects the node."""
    if node_filter is None:
        return True
    if isinstance(node_filter, str):
        return node_name == node_filter
    if isinstance(node_filter, list):
        return node_name in node_filter
    if callable(node_filter):
        return bool(node_filter(node_name, node_tags))
    raise ValueError(
        f"node_filter must be a name, a list of names, a function of (name, tags) or None;"
        f" got {node_filter!r}"
    )


def _node_id(node_name: str, task_id: str | None) -> str:
    return f"{task_id}:{node_name}" if task_id is not None else node_name


def _duration(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3g}μs"
    if seconds < 1:
        return f"{seconds * 1e3:.3g}ms"
    return f"{seconds:.3g}s"


class PrintLn(NodeExecutionHook):
    """Prints a line when a node starts and one when it ends, with its duration.

    :param verbosity: ``1`` names the node and its duration; ``2`` also prints its inputs and
        its result (or error).
    :param print_fn: where lines go (``print`` by default; a logger's method works).
    :param node_filter: which nodes to report (see :data:`NodeFilter`).
    """

    def __init__(
        self,
        verbosity: int = 1,
        print_fn: Callable[[str], Any] = print,
        node_filter: NodeFilter = None,
    ) -> None:
        if verbosity not in (1, 2):
            raise ValueError(f"verbosity is 1 or 2, not {verbosity!r}")
        self.verbosity = verbosity
        self.print_fn = print_fn
        self.node_filter = node_filter
        self._started: dict[tuple[str, str], float] = {}

    def run_before_node_execution(
        self,
        *,
        node_name: str,
        node_tags: dict[str, Any],
        node_kwargs: dict[str, Any],
        task_id: str | None,
        run_id: str = "",
        **future_kwargs: Any,
    ) -> None:
        if not should_run_node(node_name, node_tags, self.node_filter):
            return
        node_id = _node_id(node_name, task_id)
        self._started[(run_id, node_id)] = time.perf_counter()
        line = f"Executing node: {node_id}."
        if self.verbosity == 2:
            line += f" Inputs:\n{pprint.pformat(node_kwargs)}"
        self.print_fn(line)

    def run_after_node_execution(
        self,
        *,
        node_name: str,
        node_tags: dict[str, Any],
        result: Any,
        error: BaseException | None,
        success: bool,
        task_id: str | None,
        run_id: str = "",
        **future_kwargs: Any,
    ) -> None:
        if not should_run_node(node_name, node_tags, self.node_filter):
            return
        node_id = _node_id(node_name, task_id)
        started = self._started.pop((run_id, node_id), None)
        took = "" if started is None else f" in {_duration(time.perf_counter() - started)}"
        line = f"Finished node: {node_id}{took}. Status: {'Success' if success else 'Failure'}."
        if self.verbosity == 2:
            line += f" Result:\n{pprint.pformat(result)}" if success else f" Error: {error!r}"
        self.print_fn(line)


class PDBDebugger(NodeExecutionHook, NodeExecutionMethod):
    """Stops in ``pdb`` before (``before``), during (``during``) or after (``after``) the nodes
    ``node_filter`` selects. ``PDBDebugger.CONTEXT`` holds the node being debugged.

    Note that ``before`` and ``after`` stop on the event loop's thread; ``during`` stops where
    the node runs (a thread, or the loop for async nodes, which it runs to completion first).
    """

    CONTEXT: dict[str, Any] = {}

    def __init__(
        self,
        node_filter: NodeFilter,
        before: bool = False,
        during: bool = False,
        after: bool = False,
    ) -> None:
        self.node_filter = node_filter
        self.run_before = before
        self.run_during = during
        self.run_after = after

    def run_to_execute_node(
        self,
        *,
        node_name: str,
        node_tags: dict[str, Any],
        node_callable: Any,
        node_kwargs: dict[str, Any],
        task_id: str | None,
        **future_kwargs: Any,
    ) -> Any:
        if not (self.run_during and should_run_node(node_name, node_tags, self.node_filter)):
            return node_callable(**node_kwargs)
        PDBDebugger.CONTEXT = {
            "node_name": node_name,
            "node_tags": node_tags,
            "node_callable": node_callable,
            "node_kwargs": node_kwargs,
            "task_id": task_id,
        }
        logger.warning("entering pdb for node %r; see PDBDebugger.CONTEXT", node_name)
        return pdb.runcall(node_callable, **node_kwargs)

    def run_before_node_execution(
        self, *, node_name: str, node_tags: dict[str, Any], **future_kwargs: Any
    ) -> None:
        if self.run_before and should_run_node(node_name, node_tags, self.node_filter):
            PDBDebugger.CONTEXT = {"node_name": node_name, "node_tags": node_tags, **future_kwargs}
            logger.warning("entering pdb before node %r; see PDBDebugger.CONTEXT", node_name)
            pdb.set_trace()

    def run_after_node_execution(
        self, *, node_name: str, node_tags: dict[str, Any], **future_kwargs: Any
    ) -> None:
        if self.run_after and should_run_node(node_name, node_tags, self.node_filter):
            PDBDebugger.CONTEXT = {"node_name": node_name, "node_tags": node_tags, **future_kwargs}
            logger.warning("entering pdb after node %r; see PDBDebugger.CONTEXT", node_name)
            pdb.set_trace()


def accept_error_sentinels(func: _F) -> _F:
    """Let a node run when some of its arguments are :class:`GracefulErrorAdapter` sentinels
    (they are passed to it as they are), instead of passing the sentinel on.

    Example::

        @accept_error_sentinels
        def report(fit: tuple | None, name: str) -> dict:
            return {"name": name, "ok": fit is not None}
    """
    marked: _F = tag(**{ERROR_SENTINEL_TAG: INJECTION_ALLOWED}, bypass_reserved_namespaces_=True)(
        func
    )
    return marked


class GracefulErrorAdapter(NodeExecutionMethod):
    """Proceed past failures: a node that raises ``error_to_catch`` produces ``sentinel_value``,
    and a node that receives the sentinel returns it without running (unless it is marked with
    :func:`accept_error_sentinels`). The run then finishes, with sentinels where results could
    not be computed.

    Inside Parallelizable blocks each item fails or succeeds on its own. An expander that
    raises while yielding ends its stream with one sentinel item after the items it yielded
    (``try_all_parallel=True``, the default), or, with ``try_all_parallel=False``, is replaced
    by a single sentinel item; to know that, the adapter reads the whole generator before the
    first item is dispatched, so that choice gives up streaming for that expander.

    :param error_to_catch: the exception type (or tuple of types) to turn into the sentinel.
    :param sentinel_value: what stands for a missing result (``None`` by default; a unique
        object is safer when ``None`` is a real value).
    :param try_all_parallel: see above.
    :param allow_injection: honour :func:`accept_error_sentinels`.
    """

    def __init__(
        self,
        error_to_catch: type[BaseException] | tuple[type[BaseException], ...],
        sentinel_value: Any = None,
        try_all_parallel: bool = True,
        allow_injection: bool = True,
    ) -> None:
        self.error_to_catch = error_to_catch
        self.sentinel_value = sentinel_value
        self.try_all_parallel = try_all_parallel
        self.allow_injection = allow_injection

    def _is_sentinel(self, value: Any) -> bool:
        sentinel = self.sentinel_value
        if type(value) is not type(sentinel):
            return False
        try:
            return bool(value is sentinel or value == sentinel)
        except Exception:
            return False

    def _receives_sentinel(self, node_tags: dict[str, Any], kwargs: dict[str, Any]) -> bool:
        if self.allow_injection and node_tags.get(ERROR_SENTINEL_TAG) == INJECTION_ALLOWED:
            return False
        return any(self._is_sentinel(v) for v in kwargs.values())

    def run_to_execute_node(
        self,
        *,
        node_callable: Any,
        node_kwargs: dict[str, Any],
        is_expand: bool,
        is_collect: bool = False,
        node_tags: dict[str, Any] | None = None,
        **future_kwargs: Any,
    ) -> Any:
        """Hamilton's entry point, for sync nodes (the driver uses :meth:`wrap_node`)."""
        if self._receives_sentinel(node_tags or {}, node_kwargs):
            return [self.sentinel_value] if is_expand else self.sentinel_value
        if not is_expand:
            try:
                return node_callable(**node_kwargs)
            except self.error_to_catch:
                return self.sentinel_value
        return list(self._sync_items(node_callable, node_kwargs))

    def wrap_node(
        self,
        *,
        node_tags: dict[str, Any],
        fn: Callable[..., Any],
        is_async: bool,
        is_expander: bool,
        **future_kwargs: Any,
    ) -> Callable[..., Any] | None:
        """asyncdag's per-plan wrapper: sync and async nodes, generators and async generators."""
        sentinel = self.sentinel_value
        catch = self.error_to_catch
        target = inspect.unwrap(fn)

        if is_expander and inspect.isasyncgenfunction(target):

            @functools.wraps(fn)
            async def async_items(**kwargs: Any) -> Any:
                if self._receives_sentinel(node_tags, kwargs):
                    yield sentinel
                    return
                if not self.try_all_parallel:
                    try:
                        drained = [item async for item in fn(**kwargs)]
                    except catch:
                        drained = [sentinel]
                    for item in drained:
                        yield item
                    return
                try:
                    async for item in fn(**kwargs):
                        yield item
                except catch:
                    yield sentinel

            return async_items

        if is_expander:

            def items(kwargs: dict[str, Any]) -> Any:
                if self._receives_sentinel(node_tags, kwargs):
                    return [sentinel]
                return self._sync_items(fn, kwargs)

            return wrap_call(fn, is_async=is_async, is_expander=True, run=items)

        if is_async:

            @functools.wraps(fn)
            async def call_async(**kwargs: Any) -> Any:
                if self._receives_sentinel(node_tags, kwargs):
                    return sentinel
                try:
                    return await fn(**kwargs)
                except catch:
                    return sentinel

            return call_async

        @functools.wraps(fn)
        def call(**kwargs: Any) -> Any:
            if self._receives_sentinel(node_tags, kwargs):
                return sentinel
            try:
                return fn(**kwargs)
            except catch:
                return sentinel

        return call

    def _sync_items(self, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        """The items of a sync expander, ended (or replaced) by a sentinel on failure."""
        catch = self.error_to_catch
        if not self.try_all_parallel:
            try:
                return list(fn(**kwargs))
            except catch:
                return [self.sentinel_value]

        def stream() -> Any:
            try:
                yield from fn(**kwargs)
            except catch:
                yield self.sentinel_value

        return stream()


class FunctionInputOutputTypeChecker(NodeExecutionHook):
    """Checks, as the run goes, that each node's inputs and result fit their annotations;
    a mismatch raises ``TypeError`` naming the node (and fails the run)."""

    def __init__(self, check_input: bool = True, check_output: bool = True) -> None:
        self.check_input = check_input
        self.check_output = check_output

    def run_before_node_execution(
        self,
        *,
        node_name: str,
        node_kwargs: dict[str, Any],
        node_input_types: dict[str, Any],
        **future_kwargs: Any,
    ) -> None:
        if not self.check_input:
            return
        for name, value in node_kwargs.items():
            declared = node_input_types.get(name, Any)
            if not value_fits(value, declared):
                raise TypeError(
                    f"node {node_name!r} received {type(value).__qualname__} for {name!r},"
                    f" which is declared as {declared!r}"
                )

    def run_after_node_execution(
        self,
        *,
        node_name: str,
        node_return_type: Any,
        result: Any,
        success: bool,
        **future_kwargs: Any,
    ) -> None:
        if self.check_output and success and not value_fits(result, node_return_type):
            raise TypeError(
                f"node {node_name!r} returned {type(result).__qualname__}, which is declared"
                f" as {node_return_type!r}"
            )


class NoEdgeAndInputTypeChecking(EdgeConnectionHook):
    """Accepts every edge and every input, whatever the annotations say."""

    def check_edge_types_match(self, type_from: type, type_to: type, **kwargs: Any) -> bool:
        return True

    def validate_input(self, node_type: type, input_value: Any, **kwargs: Any) -> bool:
        return True
