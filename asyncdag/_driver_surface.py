"""The driver's Hamilton-shaped surface: what ``driver.py`` delegates to.

- building: modules + config + adapters (+ materializers) -> a validated graph;
- outputs given as functions or variables -> node names;
- the one result builder among the adapters, applied by the public ``execute``/``aexecute``;
- ``list_available_variables`` and its tag filter, ``export_execution``;
- pickling a driver (its graph, executors and adapters travel with cloudpickle).
"""

from __future__ import annotations

import functools
import inspect
import io
import json
import pickle
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ParamSpec, Protocol, TypeVar

import cloudpickle

from asyncdag.errors import ExecutionRequestError, GraphError, UnknownOutputError
from asyncdag.execution.executors import TaskExecutor
from asyncdag.graph._build import Graph, build_graph
from asyncdag.graph._cycles import needed_nodes
from asyncdag.graph_types import Variable, input_names
from asyncdag.io._materialize import ExtractorFactory, MaterializerFactory, apply_materializers
from asyncdag.lifecycle._hamilton import edge_checks, validate_graph
from asyncdag.lifecycle._hooks import LifecycleHooks

__all__ = [
    "as_adapter_list",
    "build_graph_for",
    "executor_from_adapters",
    "export_execution",
    "is_result_builder",
    "list_variables",
    "output_names",
    "restore_driver",
    "result_builder_of",
    "returns_result",
]

P = ParamSpec("P")
R = TypeVar("R")


class _Driver(Protocol):
    graph: Graph
    _result_builder: Any


# -- building -------------------------------------------------------------------------------


def build_graph_for(
    modules: Sequence[types.ModuleType],
    config: Mapping[str, Any],
    adapters: Sequence[Any],
    *,
    allow_module_overrides: bool = False,
    materializers: Sequence[MaterializerFactory | ExtractorFactory] = (),
) -> Graph:
    """The validated graph of a driver: modules and config, then materializers, then the
    adapters' static validators."""
    graph = build_graph(
        modules,
        config,
        allow_module_overrides=allow_module_overrides,
        edge_checks=edge_checks(adapters),
    )
    if materializers:
        graph = apply_materializers(graph, materializers)
    validate_graph(adapters, graph)
    return graph


def as_adapter_list(adapter: Any) -> list[Any]:
    """Hamilton's ``adapter=`` argument: one adapter, a list of them, or ``None``."""
    if adapter is None:
        return []
    if isinstance(adapter, list | tuple):
        return list(adapter)
    return [adapter]


def is_result_builder(adapter: Any) -> bool:
    """Whether ``adapter`` shapes ``execute``'s result (it has ``build_result``)."""
    return not isinstance(adapter, LifecycleHooks) and callable(
        getattr(adapter, "build_result", None)
    )


def result_builder_of(adapters: Iterable[Any]) -> Any | None:
    """The one result builder among ``adapters``, or ``None``."""
    found = [a for a in adapters if is_result_builder(a)]
    if len(found) > 1:
        names = ", ".join(type(a).__name__ for a in found)
        raise GraphError(
            f"{len(found)} result builders were given ({names}); a driver returns one result:"
            " pass only one of them."
        )
    return found[0] if found else None


def executor_from_adapters(adapters: Iterable[Any]) -> Any | None:
    """The first ``local_executor`` an adapter offers (``h_threadpool.FutureAdapter``)."""
    for adapter in adapters:
        executor = getattr(adapter, "local_executor", None)
        if isinstance(executor, TaskExecutor):
            return executor
    return None


# -- outputs ---------------------------------------------------------------------------------


def output_names(graph: Graph, final_vars: Iterable[Any]) -> list[str]:
    """``final_vars`` as node names: names stay, variables give their name, and a function
    gives the node it defines under its own name."""
    if isinstance(final_vars, str):
        raise ExecutionRequestError(
            f"final_vars is the string {final_vars!r}; pass a list of outputs, e.g."
            f" [{final_vars!r}]"
        )
    names: list[str] = []
    for var in final_vars:
        if isinstance(var, str):
            names.append(var)
        elif isinstance(var, Variable):
            names.append(var.name)
        elif callable(var):
            names.append(_node_of_function(graph, var))
        else:
            raise ExecutionRequestError(
                f"output {var!r} is not a node name, a Variable or a function of the modules"
            )
    return names


def _node_of_function(graph: Graph, fn: Callable[..., Any]) -> str:
    """The node ``fn`` defines: the node of its name from its module, or the one node whose
    function is ``fn`` or a copy of it (``ad_hoc_utils`` modules hold copies)."""
    name = getattr(fn, "__name__", "")
    node = graph.nodes.get(name)
    if node is not None and node.module == getattr(fn, "__module__", None):
        return name
    code = getattr(inspect.unwrap(fn), "__code__", None)

    def same(origin: Any) -> bool:
        return origin is fn or (
            code is not None and getattr(inspect.unwrap(origin), "__code__", None) is code
        )

    origin = [n.name for n in graph.nodes.values() if same(n.originating_function)]
    if name in origin:
        return name
    if len(origin) == 1:
        return origin[0]
    where = f"{getattr(fn, '__module__', '?')}.{name}"
    if origin:
        raise UnknownOutputError(
            f"function {where} defines several nodes {sorted(origin)}; name the one you want"
        )
    raise UnknownOutputError(
        f"function {where} is not a node of this driver: is its module among the driver's"
        " modules (Builder.with_modules)?"
    )


def returns_result(method: Callable[P, R]) -> Callable[P, Any]:
    """Decorates ``Driver.execute``: outputs may be functions; the result builder shapes what
    is returned."""

    @functools.wraps(method)
    def run(*args: P.args, **kwargs: P.kwargs) -> Any:
        driver, args2, kwargs2 = _with_output_names(args, kwargs)
        outputs = method(*args2, **kwargs2)
        return build_result(driver, outputs)

    return run


def _with_output_names(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[_Driver, tuple[Any, ...], dict[str, Any]]:
    driver: _Driver = args[0]
    if "final_vars" in kwargs:
        kwargs = {**kwargs, "final_vars": output_names(driver.graph, kwargs["final_vars"])}
    elif len(args) > 1:
        args = (driver, output_names(driver.graph, args[1]), *args[2:])
    return driver, args, kwargs


def build_result(driver: _Driver, outputs: Any) -> Any:
    builder = driver._result_builder
    if builder is None:
        return outputs
    return builder.build_result(**outputs)


# -- introspection -----------------------------------------------------------------------------


def check_tag_filter(tag_filter: Mapping[str, Any]) -> None:
    """A tag query's values are a string, a non-empty list of strings, or ``None``."""
    bad = {
        key: value
        for key, value in tag_filter.items()
        if not (
            value is None
            or isinstance(value, str)
            or (isinstance(value, list) and value and all(isinstance(v, str) for v in value))
        )
    }
    if bad:
        raise ExecutionRequestError(
            f"invalid tag_filter values {bad!r}: each value must be a string, a non-empty list"
            " of strings (any of them matches), or None (the tag is present)."
        )


def tags_match(tags: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Every wanted tag is present and, unless ``None``, shares a value with the query (a
    node's tag may itself be a list of values)."""
    for key, accepted in wanted.items():
        if key not in tags:
            return False
        if accepted is None:
            continue
        have = tags[key] if isinstance(tags[key], list) else [tags[key]]
        options = accepted if isinstance(accepted, list) else [accepted]
        if not any(h == o for h in have for o in options):
            return False
    return True


def list_variables(graph: Graph, tag_filter: Mapping[str, Any] | None) -> list[Variable]:
    found = [Variable.from_node(graph.nodes[n]) for n in (*graph.order, *graph.blocked)]
    found += [Variable.from_input(graph, n) for n in input_names(graph)]
    if tag_filter:
        check_tag_filter(tag_filter)
        found = [v for v in found if tags_match(v.tags, tag_filter)]
    return found


def export_execution(graph: Graph, final_vars: Sequence[str], provided: frozenset[str]) -> str:
    """JSON of the nodes a request runs and the inputs it reads, sorted by name."""
    needed = needed_nodes(graph, final_vars, provided)
    found = [Variable.from_node(graph.nodes[n]).as_dict() for n in needed]
    reads = {
        d.name
        for n in needed
        if n not in provided
        for d in graph.nodes[n].dependencies
        if d.name not in graph.nodes and (d.required or d.name in provided)
    }
    reads |= {o for o in final_vars if o not in graph.nodes}
    found += [Variable.from_input(graph, n).as_dict() for n in reads]
    return json.dumps({"nodes": sorted(found, key=lambda d: d["name"])})


# -- pickling ------------------------------------------------------------------------------------


def reduce_state(state: dict[str, Any]) -> bytes:
    """A driver's state as bytes; raises ``TypeError`` naming what cannot travel."""
    buffer = io.BytesIO()
    try:
        cloudpickle.dump(state, buffer)
    except Exception as exc:
        parts = [k for k, v in state.items() if not _pickles(v)]
        raise TypeError(
            f"this driver cannot be pickled: {', '.join(parts) or 'its state'} cannot be"
            f" serialized ({type(exc).__name__}: {exc}). Drivers with the default executors"
            " and picklable adapters pickle; build the executors where the driver is used."
        ) from exc
    return buffer.getvalue()


def _pickles(value: Any) -> bool:
    try:
        cloudpickle.dumps(value)
    except Exception:
        return False
    return True


def restore_driver(blob: bytes) -> Any:
    """The driver that :func:`reduce_state` described."""
    state = pickle.loads(blob)
    cls = state.pop("cls")
    return cls(state.pop("graph"), **state)
