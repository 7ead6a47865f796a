"""The one translation from asyncdag's events to Hamilton-style hooks.

An adapter given to the driver that is not a :class:`~asyncdag.lifecycle.LifecycleHooks` is
read as a Hamilton adapter: each hook method it has (Hamilton's names, or asyncdag's) becomes
one small ``LifecycleHooks`` object here that listens to the matching asyncdag event and calls
the method with the union of asyncdag's keywords and Hamilton's (``node_kwargs``,
``node_return_type``, ``graph``, ``execution_path``, ``nodes``, ``purpose`` ...), narrowed to
what the method accepts when it takes no ``**kwargs``. So a Hamilton hook runs with or without
Hamilton's base classes, and an asyncdag-style hook written as a plain object still works.

Hamilton's per-call methods (``run_to_execute_node``, a legacy adapter's ``execute_node``)
become ``wrap_node`` wrappers, made once per plan: they run wherever the node runs.

Hooks that only listen (node, task, graph events) cost nothing for events they do not take:
each translator overrides one asyncdag method, so the driver's per-event flags stay off.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from asyncdag import _calls
from asyncdag.graph._build import Graph
from asyncdag.graph._cycles import needed_nodes
from asyncdag.graph._node import Role
from asyncdag.graph_types import HamiltonGraph, Variable
from asyncdag.lifecycle._hooks import LifecycleHooks
from asyncdag.lifecycle.api import GraphAdapter, NodeGroupPurpose, ValidationException

__all__ = [
    "edge_checks",
    "input_checks",
    "notify_graph_built",
    "translate",
    "validate_graph",
]


# -- what a driver needs to know about one graph, computed once -------------------------------


class _Context:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self._hamilton_graph: HamiltonGraph | None = None
        self._block_nodes: dict[str, list[Variable]] = {}

    def hamilton_graph(self) -> HamiltonGraph:
        if self._hamilton_graph is None:
            self._hamilton_graph = HamiltonGraph.from_graph(self.graph)
        return self._hamilton_graph

    def return_type(self, name: str) -> Any:
        node = self.graph.nodes.get(name)
        return Any if node is None else node.type

    def input_types(self, name: str) -> dict[str, Any]:
        node = self.graph.nodes.get(name)
        return {} if node is None else {d.name: d.type for d in node.dependencies}

    def execution_path(self, final_vars: list[str], provided: Iterable[str]) -> list[str]:
        given = frozenset(provided)
        needed = needed_nodes(self.graph, final_vars, given)
        order = (*self.graph.order, *self.graph.blocked)
        return [n for n in order if n in needed and n not in given]

    def block_nodes(self, expander: str) -> list[Variable]:
        found = self._block_nodes.get(expander)
        if found is None:
            found = [
                Variable.from_node(self.graph.nodes[name])
                for name in self.graph.order
                if expander in self.graph.scopes.get(name, ())
            ]
            self._block_nodes[expander] = found
        return found


def _accepted(method: Callable[..., Any]) -> frozenset[str] | None:
    """The keyword names ``method`` takes, or ``None`` when it takes ``**kwargs``."""
    try:
        params = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return frozenset(
        p.name
        for p in params
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    )


class _Translated(LifecycleHooks):
    """One hook method of a Hamilton-style adapter."""

    def __init__(self, method: Callable[..., Any], context: _Context) -> None:
        self.method = method
        self.accepts = _accepted(method)
        self.context = context
        owner = getattr(method, "__self__", None)
        #: the user's adapter, as errors name it (HookError)
        self.hook_owner = type(owner).__name__ if owner is not None else repr(method)

    def takes(self, name: str) -> bool:
        return self.accepts is None or name in self.accepts

    def call(self, kwargs: dict[str, Any]) -> Any:
        if self.accepts is not None:
            kwargs = {k: v for k, v in kwargs.items() if k in self.accepts}
        return self.method(**kwargs)

    def __repr__(self) -> str:
        return f"<Hamilton hook {getattr(self.method, '__qualname__', self.method)!r}>"


def _task_id(index: tuple[int, ...]) -> str | None:
    return "/".join(map(str, index)) if index else None


class _BeforeGraph(_Translated):
    def run_before_graph_execution(self, **kwargs: Any) -> Any:
        if self.takes("graph"):
            kwargs["graph"] = self.context.hamilton_graph()
        if self.takes("execution_path"):
            given = [*self.context.graph.config, *kwargs["inputs"], *kwargs["overrides"]]
            kwargs["execution_path"] = self.context.execution_path(kwargs["final_vars"], given)
        return self.call(kwargs)


class _AfterGraph(_Translated):
    def run_after_graph_execution(self, **kwargs: Any) -> Any:
        if self.takes("graph"):
            kwargs["graph"] = self.context.hamilton_graph()
        return self.call(kwargs)


class _BeforeNode(_Translated):
    #: asks the engine for the node's arguments (``node_kwargs``)
    wants_node_inputs = True

    def run_before_node_execution(self, **kwargs: Any) -> Any:
        name = kwargs["node_name"]
        kwargs.setdefault("node_kwargs", {})
        kwargs["node_return_type"] = self.context.return_type(name)
        kwargs["node_input_types"] = self.context.input_types(name)
        return self.call(kwargs)


class _AfterNode(_Translated):
    def run_after_node_execution(self, **kwargs: Any) -> Any:
        kwargs.setdefault("node_kwargs", {})
        kwargs["node_return_type"] = self.context.return_type(kwargs["node_name"])
        return self.call(kwargs)


def _task_kwargs(context: _Context, kwargs: dict[str, Any]) -> dict[str, Any]:
    index: tuple[int, ...] = kwargs.get("index", ())
    kwargs.setdefault("inputs", {})
    kwargs.setdefault("overrides", {})
    kwargs["nodes"] = context.block_nodes(kwargs["expander"])
    kwargs["spawning_task_id"] = _task_id(index[:-1])
    kwargs["purpose"] = NodeGroupPurpose.EXECUTE_BLOCK
    return kwargs


class _BeforeTask(_Translated):
    def run_before_task_execution(self, **kwargs: Any) -> Any:
        return self.call(_task_kwargs(self.context, kwargs))


class _AfterTask(_Translated):
    def run_after_task_execution(self, **kwargs: Any) -> Any:
        kwargs.setdefault("results", None)
        return self.call(_task_kwargs(self.context, kwargs))


class _AfterTaskReturn(_Translated):
    def run_after_task_execution(self, **kwargs: Any) -> Any:
        kwargs.setdefault("result", None)
        return self.call(_task_kwargs(self.context, kwargs))


class _AfterItemYielded(_Translated):
    def run_after_item_yielded(self, **kwargs: Any) -> Any:
        return self.call(kwargs)


class _AfterExpansion(_Translated):
    def run_after_expansion(self, **kwargs: Any) -> Any:
        return self.call(kwargs)


class _AfterTaskExpansion(_Translated):
    def run_after_expansion(self, **kwargs: Any) -> Any:
        expander = kwargs["expander"]
        index = kwargs.get("index", ())
        kwargs["task_id"] = f"{expander}@{_task_id(index)}" if index else expander
        kwargs["parameters"] = {f"{expander}.{i}": None for i in range(kwargs["items"])}
        return self.call(kwargs)


class _WrapNode(_Translated):
    """An adapter's own ``wrap_node`` (asyncdag's per-plan wrapper)."""

    def wrap_node(self, **kwargs: Any) -> Callable[..., Any] | None:
        result: Callable[..., Any] | None = self.call(kwargs)
        return result


class _ExecuteNode(_Translated):
    """Hamilton's ``run_to_execute_node``: it replaces every call of the node."""

    def wrap_node(
        self,
        *,
        node_name: str,
        node_tags: dict[str, Any],
        fn: Callable[..., Any],
        is_async: bool,
        is_expander: bool,
        node: Any,
        **future_kwargs: Any,
    ) -> Callable[..., Any] | None:
        method = self.method
        fixed = {
            "node_name": node_name,
            "node_tags": node_tags,
            "node_callable": fn,
            "is_expand": is_expander,
            "is_collect": node.role is Role.COLLECT,
        }
        accepts = self.accepts

        def run(kwargs: dict[str, Any]) -> Any:
            call = {**fixed, "node_kwargs": kwargs, "task_id": _current_task_id()}
            if accepts is not None:
                call = {k: v for k, v in call.items() if k in accepts}
            return method(**call)

        return wrap_call(fn, is_async=is_async, is_expander=is_expander, run=run)


class _ExecuteNodeLegacy(_Translated):
    """A legacy ``GraphAdapter.execute_node(node, kwargs)`` that a subclass overrides."""

    def wrap_node(
        self,
        *,
        fn: Callable[..., Any],
        is_async: bool,
        is_expander: bool,
        node: Any,
        **future_kwargs: Any,
    ) -> Callable[..., Any] | None:
        method = self.method
        shown = node.copy_with(callable=fn)

        def run(kwargs: dict[str, Any]) -> Any:
            return method(shown, kwargs)

        return wrap_call(fn, is_async=is_async, is_expander=is_expander, run=run)


def _current_task_id() -> str | None:
    info = _calls.current_call()
    index = None if info is None else info.index
    return _task_id(tuple(index)) if index else None


def wrap_call(
    fn: Callable[..., Any],
    *,
    is_async: bool,
    is_expander: bool,
    run: Callable[[dict[str, Any]], Any],
) -> Callable[..., Any]:
    """A wrapper of ``fn``'s call style whose body is ``run(kwargs)``.

    ``run`` may return a value, an awaitable (awaited in async styles), or, for an expander,
    any iterable or async iterable of items.
    """
    target = inspect.unwrap(fn)
    if is_expander and inspect.isgeneratorfunction(target):

        @functools.wraps(fn)
        def items(**kwargs: Any) -> Any:
            return (yield from run(kwargs))

        return items
    if is_expander and inspect.isasyncgenfunction(target):

        @functools.wraps(fn)
        async def async_items(**kwargs: Any) -> Any:
            produced = run(kwargs)
            if inspect.isawaitable(produced):
                produced = await produced
            if hasattr(produced, "__aiter__"):
                async for item in produced:
                    yield item
            else:
                for item in produced:
                    yield item

        return async_items
    if is_async:

        @functools.wraps(fn)
        async def call_async(**kwargs: Any) -> Any:
            produced = run(kwargs)
            if inspect.isawaitable(produced):
                produced = await produced
            return produced

        return call_async

    @functools.wraps(fn)
    def call(**kwargs: Any) -> Any:
        return run(kwargs)

    return call


# -- translating a driver's adapters ---------------------------------------------------------

# (method name on the adapter, translator class)
_LISTENERS: tuple[tuple[str, type[_Translated]], ...] = (
    ("run_before_graph_execution", _BeforeGraph),
    ("run_after_graph_execution", _AfterGraph),
    ("run_before_node_execution", _BeforeNode),
    ("run_after_node_execution", _AfterNode),
    ("run_before_task_execution", _BeforeTask),
    ("run_before_task_submission", _BeforeTask),
    ("run_after_task_execution", _AfterTask),
    ("run_after_task_return", _AfterTaskReturn),
    ("run_after_item_yielded", _AfterItemYielded),
    ("run_after_expansion", _AfterExpansion),
    ("run_after_task_expansion", _AfterTaskExpansion),
)


def translate(adapters: Sequence[Any], graph: Graph) -> list[LifecycleHooks]:
    """The hooks to run for ``adapters``: asyncdag's own as they are, Hamilton-style ones
    translated (one object per hook method)."""
    context = _Context(graph)
    hooks: list[LifecycleHooks] = []
    for adapter in adapters:
        if isinstance(adapter, LifecycleHooks):
            hooks.append(adapter)
            continue
        for name, translator in _LISTENERS:
            method = getattr(adapter, name, None)
            if callable(method):
                hooks.append(translator(method, context))
        wrap = getattr(adapter, "wrap_node", None)
        execute = getattr(adapter, "run_to_execute_node", None)
        if callable(wrap):
            hooks.append(_WrapNode(wrap, context))
        elif callable(execute):
            hooks.append(_ExecuteNode(execute, context))
        elif isinstance(adapter, GraphAdapter) and _overrides(adapter, "execute_node"):
            hooks.append(_ExecuteNodeLegacy(adapter.execute_node, context))
    return hooks


def _overrides(adapter: Any, name: str) -> bool:
    """Whether ``adapter``'s class overrides ``name`` of ``GraphAdapter`` with its own code
    (asyncdag.base's adapters, which only call the node, mark theirs ``_plain_node_call``)."""
    for cls in type(adapter).__mro__:
        if name in vars(cls):
            return cls is not GraphAdapter and not vars(cls).get("_plain_node_call", False)
    return False


def _hamilton_style(adapter: Any) -> bool:
    return not isinstance(adapter, LifecycleHooks)


def notify_graph_built(adapters: Sequence[Any], graph: Graph) -> None:
    """Call ``run_after_graph_construction`` of the adapters that have it."""
    context = _Context(graph)
    for adapter in adapters:
        method = getattr(adapter, "run_after_graph_construction", None)
        if _hamilton_style(adapter) and callable(method):
            _Translated(method, context).call(
                {"graph": context.hamilton_graph(), "config": dict(graph.config)}
            )


def validate_graph(adapters: Sequence[Any], graph: Graph) -> None:
    """Run the adapters' ``run_to_validate_node`` / ``run_to_validate_graph``; raise
    ``ValidationException`` listing every failure."""
    node_checks = [
        m
        for a in adapters
        if _hamilton_style(a) and callable(m := getattr(a, "run_to_validate_node", None))
    ]
    graph_checks = [
        m
        for a in adapters
        if _hamilton_style(a) and callable(m := getattr(a, "run_to_validate_graph", None))
    ]
    if not node_checks and not graph_checks:
        return
    context = _Context(graph)
    failures: list[str] = []
    for var in context.hamilton_graph().nodes:
        if var.is_external_input:
            continue
        for check in node_checks:
            ok, why = check(node=var)
            if not ok:
                failures.append(f"{var.name}: {why}")
    for check in graph_checks:
        ok, why = check(graph=context.hamilton_graph())
        if not ok:
            failures.append(f"graph: {why}")
    if failures:
        raise ValidationException(
            f"validation failed, {len(failures)} error(s):\n  " + "\n  ".join(sorted(failures))
        )


def edge_checks(adapters: Sequence[Any]) -> list[Callable[[Any, Any], bool]]:
    """The adapters' ``check_edge_types_match`` methods (each may accept an edge)."""
    return [
        m
        for a in adapters
        if _hamilton_style(a) and callable(m := getattr(a, "check_edge_types_match", None))
    ]


def input_checks(adapters: Sequence[Any]) -> list[Callable[[Any, Any], bool]]:
    """The adapters' ``validate_input`` methods, called as ``check(node_type, input_value)``."""
    return [
        m
        for a in adapters
        if _hamilton_style(a) and callable(m := getattr(a, "validate_input", None))
    ]
