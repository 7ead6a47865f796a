"""The hooks interface and its dispatcher."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["HOOK_NAMES", "HookSet", "LifecycleHooks"]


class LifecycleHooks:
    """Base class of lifecycle hooks; every method is optional and does nothing here.

    Item-level events (task, node, item, retry) carry ``index`` (the item's index path, ``()``
    outside blocks) and ``label`` (the item's short label, ``None`` outside blocks). Events of
    nodes that ran off the loop (a thread hop, a worker process, a cluster) are delivered on
    the run's loop when their results come back, with ``started_at`` / ``ended_at``
    (``time.time()`` of the call) among the keyword arguments.

    Set the class attribute ``wants_node_inputs = True`` to receive the node's arguments as
    ``node_kwargs`` in :meth:`run_before_node_execution` (off by default: it costs a dict per
    call, and a pickle per call for nodes in worker processes).
    """

    #: whether run_before_node_execution receives ``node_kwargs``
    wants_node_inputs: bool = False

    def run_before_graph_execution(
        self,
        *,
        run_id: str,
        final_vars: list[str],
        inputs: dict[str, Any],
        overrides: dict[str, Any],
        **future_kwargs: Any,
    ) -> Any:
        """A run starts (after validation, before any node)."""

    def run_after_graph_execution(
        self,
        *,
        run_id: str,
        success: bool,
        error: BaseException | None,
        results: dict[str, Any] | None,
        **future_kwargs: Any,
    ) -> Any:
        """A run ended: finished, failed, or was cancelled (``error`` is then the cancel)."""

    def run_before_expansion(
        self,
        *,
        run_id: str,
        expander: str,
        index: tuple[int, ...],
        label: str | None,
        total: int | None,
        **future_kwargs: Any,
    ) -> Any:
        """An expander's items start to flow (``index`` is the expansion's own path).

        ``total`` is the number of items when the expander returned a sized collection (a
        list, a range, a dict...), else ``None``.
        """

    def run_before_task_execution(
        self,
        *,
        run_id: str,
        task_id: str,
        expander: str,
        index: tuple[int, ...],
        label: str | None,
        **future_kwargs: Any,
    ) -> Any:
        """A block instance (the task of item ``index`` of ``expander``) is dispatched."""

    def run_after_task_execution(
        self,
        *,
        run_id: str,
        task_id: str,
        expander: str,
        index: tuple[int, ...],
        label: str | None,
        success: bool,
        error: BaseException | None,
        outcome: str,
        **future_kwargs: Any,
    ) -> Any:
        """A block instance ended. ``outcome`` is ``"done"``; ``"delivered"`` or ``"skipped"``
        when a node's ``on_error`` policy ended the item (``error`` is its exception); or
        ``"failed"`` when it failed the run."""

    def run_before_node_execution(
        self,
        *,
        run_id: str,
        node_name: str,
        node_tags: dict[str, Any],
        index: tuple[int, ...],
        task_id: str | None,
        label: str | None,
        **future_kwargs: Any,
    ) -> Any:
        """A node is about to run (``index`` is its item path, ``()`` outside blocks)."""

    def run_before_node_retry(
        self,
        *,
        run_id: str,
        node_name: str,
        index: tuple[int, ...],
        task_id: str | None,
        label: str | None,
        attempt: int,
        error: BaseException,
        delay: float,
        **future_kwargs: Any,
    ) -> Any:
        """A ``retry`` policy will call the node again (``attempt``, from 2) in ``delay`` s,
        after ``error``."""

    def run_after_node_execution(
        self,
        *,
        run_id: str,
        node_name: str,
        node_tags: dict[str, Any],
        index: tuple[int, ...],
        task_id: str | None,
        label: str | None,
        result: Any,
        error: BaseException | None,
        success: bool,
        attempts: int,
        **future_kwargs: Any,
    ) -> Any:
        """A node returned ``result`` (``success``) or raised ``error``, after ``attempts``
        calls."""

    def run_after_item_yielded(
        self,
        *,
        run_id: str,
        expander: str,
        index: tuple[int, ...],
        label: str | None,
        **future_kwargs: Any,
    ) -> Any:
        """An expander yielded the item at ``index``."""

    def run_after_expansion(
        self,
        *,
        run_id: str,
        expander: str,
        index: tuple[int, ...],
        items: int,
        **future_kwargs: Any,
    ) -> Any:
        """Every item of an expansion is done (``index`` is the expansion's own path)."""

    def wrap_node(
        self,
        *,
        node_name: str,
        node_tags: dict[str, Any],
        fn: Callable[..., Any],
        is_async: bool,
        is_expander: bool,
        in_block: bool,
        node: Any,
        **future_kwargs: Any,
    ) -> Callable[..., Any] | None:
        """Called once per node when the plan of a request is made, not per call: return a
        callable to run instead of ``fn``, or ``None`` to leave the node as it is.

        The replacement is called as ``fn`` is (keyword arguments named after the node's
        parameters) and keeps its call style: an ``async def`` when ``is_async``; for an
        expander (``is_expander``), a callable returning its items (a generator function stays
        a generator function). Use ``functools.wraps(fn)``. ``node`` is the graph's node
        (name, type, dependencies, originating function); ``resource_args`` (in
        ``future_kwargs``) names the parameters that receive per-worker resources (clients,
        not data). The wrapper runs wherever the node
        runs (the loop, a thread, a worker process), so it must pickle when ``fn`` does.
        Adapters wrap in the order given to ``with_adapters``: the last one is outermost.
        Per-worker resource nodes and overridden nodes are not offered.
        """
        return None


HOOK_NAMES = tuple(n for n in vars(LifecycleHooks) if n.startswith("run_"))


Hook = tuple[str, Callable[..., Any]]  # (the adapter's class name, its bound method)


class HookSet:
    """The hooks of a driver, by event: only methods an adapter actually overrides.

    Calling them (and attributing their exceptions to the hook) is the run's job; this class
    only knows who listens to what.
    """

    def __init__(self, adapters: Sequence[Any]) -> None:
        self.by_name: dict[str, list[Hook]] = {}
        for adapter in adapters:
            for name in HOOK_NAMES:
                method = getattr(adapter, name, None)
                if method is None:
                    continue
                base = getattr(LifecycleHooks, name)
                if getattr(type(adapter), name, None) is base:
                    continue  # not overridden
                # the adapter as errors name it: its class, or (for an adapter that stands in
                # for another, such as a translated Hamilton hook) the one it stands for
                owner = getattr(adapter, "hook_owner", None) or type(adapter).__name__
                self.by_name.setdefault(name, []).append((owner, method))
        has = self.by_name.__contains__
        # one flag per hot event, so that an event nobody listens to costs one test
        self.before_node = has("run_before_node_execution")
        self.after_node = has("run_after_node_execution")
        self.before_task = has("run_before_task_execution")
        self.after_task = has("run_after_task_execution")
        self.item_yielded = has("run_after_item_yielded")
        self.before_expansion = has("run_before_expansion")
        self.expansion = has("run_after_expansion")
        self.retry = has("run_before_node_retry")
        self.nodes = self.before_node or self.after_node
        #: someone listens to an event that a worker process records for the parent to fire
        self.relayed = (
            self.nodes
            or self.retry
            or any(
                has(name)
                for name in (
                    "run_before_task_execution",
                    "run_after_task_execution",
                    "run_after_item_yielded",
                    "run_before_expansion",
                    "run_after_expansion",
                )
            )
        )
        self.node_inputs = any(
            getattr(a, "wants_node_inputs", False)
            for a in adapters
            if has("run_before_node_execution")
        )
        #: adapters' ``wrap_node`` methods that are overridden, in the order given
        self.node_wrappers: list[Callable[..., Any]] = [
            a.wrap_node
            for a in adapters
            if callable(getattr(a, "wrap_node", None))
            and getattr(type(a), "wrap_node", None) is not LifecycleHooks.wrap_node
        ]

    def __bool__(self) -> bool:
        """Whether any per-run or per-call hook is overridden (``wrap_node`` acts at plan
        time and does not count)."""
        return bool(self.by_name)

    def get(self, name: str) -> list[Hook]:
        return self.by_name.get(name, [])
