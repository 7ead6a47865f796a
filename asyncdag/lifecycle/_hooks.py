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

    def __bool__(self) -> bool:
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
