"""The hooks interface and its dispatcher."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["HOOK_NAMES", "HookSet", "LifecycleHooks"]


class LifecycleHooks:
    """Base class of lifecycle hooks; every method is optional and does nothing here."""

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

    def run_before_task_execution(
        self,
        *,
        run_id: str,
        task_id: str,
        expander: str,
        index: tuple[int, ...],
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
        success: bool,
        error: BaseException | None,
        **future_kwargs: Any,
    ) -> Any:
        """A block instance finished (or failed)."""

    def run_before_node_execution(
        self,
        *,
        run_id: str,
        node_name: str,
        node_tags: dict[str, Any],
        index: tuple[int, ...],
        task_id: str | None,
        **future_kwargs: Any,
    ) -> Any:
        """A node is about to run (``index`` is its item path, ``()`` outside blocks)."""

    def run_after_node_execution(
        self,
        *,
        run_id: str,
        node_name: str,
        node_tags: dict[str, Any],
        index: tuple[int, ...],
        task_id: str | None,
        result: Any,
        error: BaseException | None,
        success: bool,
        **future_kwargs: Any,
    ) -> Any:
        """A node returned ``result`` (``success``) or raised ``error``."""

    def run_after_item_yielded(
        self, *, run_id: str, expander: str, index: tuple[int, ...], **future_kwargs: Any
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
        (name, type, dependencies, originating function). The wrapper runs wherever the node
        runs (the loop, a thread, a worker process), so it must pickle when ``fn`` does.
        Adapters wrap in the order given to ``with_adapters``: the last one is outermost.
        Per-worker resource nodes and overridden nodes are not offered.
        """
        return None


HOOK_NAMES = tuple(n for n in vars(LifecycleHooks) if n.startswith("run_"))


class HookSet:
    """The hooks of a driver, by event: only methods an adapter actually overrides."""

    def __init__(self, adapters: Sequence[Any]) -> None:
        self.by_name: dict[str, list[Callable[..., Any]]] = {}
        for adapter in adapters:
            for name in HOOK_NAMES:
                method = getattr(adapter, name, None)
                if method is None:
                    continue
                base = getattr(LifecycleHooks, name)
                if getattr(type(adapter), name, None) is base:
                    continue  # not overridden
                self.by_name.setdefault(name, []).append(method)
        has = self.by_name.__contains__
        # one flag per hot event, so that an event nobody listens to costs one test
        self.before_node = has("run_before_node_execution")
        self.after_node = has("run_after_node_execution")
        self.before_task = has("run_before_task_execution")
        self.after_task = has("run_after_task_execution")
        self.item_yielded = has("run_after_item_yielded")
        self.expansion = has("run_after_expansion")
        self.nodes = self.before_node or self.after_node
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

    def call(self, name: str, spawn: Callable[[Any], Any], **kwargs: Any) -> None:
        """Call the hooks of ``name``; an async hook's coroutine goes to ``spawn``."""
        for hook in self.by_name.get(name, ()):
            result = hook(**kwargs)
            if inspect.isawaitable(result):
                spawn(result)

    async def acall(self, name: str, **kwargs: Any) -> None:
        """Call the hooks of ``name``, awaiting async ones."""
        for hook in self.by_name.get(name, ()):
            result = hook(**kwargs)
            if inspect.isawaitable(result):
                await result
