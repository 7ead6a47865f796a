"""``@subdag`` and ``@parameterized_subdag``: reuse a module's dataflow inside another.

The functions of ``load_from`` are built again, under their own config, with every node name
prefixed by a namespace; the decorated function reads their results::

    @subdag(cleaning, inputs={"path": value("eu.csv")}, config={"region": "eu"})
    def clean_eu(clean_rows: list[dict]) -> list[dict]:
        return clean_rows

defines ``clean_eu.clean_rows`` (and the rest of ``cleaning``) and ``clean_eu``.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypedDict

from asyncdag.function_modifiers._base import BuildContext, Creator, invalid
from asyncdag.function_modifiers._dependencies import (
    ConfigDependency,
    GroupedDependency,
    LiteralDependency,
    ParametrizedDependency,
    UpstreamDependency,
    source,
)
from asyncdag.function_modifiers._resolve import default_node, nodes_for_functions
from asyncdag.function_modifiers._wrap import constant, glue, rebind
from asyncdag.graph._discover import module_functions
from asyncdag.graph._node import Dependency, Node

__all__ = ["SubdagParams", "parameterized_subdag", "subdag"]


def _functions(load_from: Sequence[Any]) -> list[tuple[str, Callable[..., Any]]]:
    found: list[tuple[str, Callable[..., Any]]] = []
    for item in load_from:
        if isinstance(item, types.ModuleType):
            found.extend(module_functions(item))
        elif callable(item):
            found.append((item.__name__, item))
        else:
            raise invalid("subdag", None, f"load_from takes modules and functions, not {item!r}")
    return found


def _resolve_config(
    outer: Mapping[str, Any], local: Mapping[str, Any], decorator: str, ctx: BuildContext
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the config the subdag is built with, the subdag's own config values)."""
    own: dict[str, Any] = {}
    for key, given in local.items():
        if isinstance(given, ConfigDependency):
            if given.source not in outer and given.source not in local:
                raise invalid(
                    decorator,
                    ctx.fn,
                    f"config {key!r} reads configuration({given.source!r}), which is not set",
                )
            own[key] = outer[given.source] if given.source in outer else local[given.source]
        elif isinstance(given, LiteralDependency):
            own[key] = given.value
        elif isinstance(given, (GroupedDependency, UpstreamDependency)):
            raise invalid(
                decorator,
                ctx.fn,
                f"config {key!r}: use configuration(...), value(...) or a plain value, not"
                f" {given!r}",
            )
        else:
            own[key] = given
    return {**outer, **own}, own


class subdag(Creator):
    """Build ``load_from``'s functions again under a namespace and feed them to this function.

    ``inputs`` maps the subdag's inputs to ``source(...)``/``value(...)``; ``config`` adds
    config values for the subdag only (``configuration(key)`` copies an outer key); the
    decorated function's parameters are read from the subdag (``namespace.param``) except those
    listed in ``external_inputs``. ``namespace`` and ``final_node_name`` default to the
    function's name.

    Example::

        @subdag(features, inputs={"raw": source("raw_eu")}, external_inputs=["weights"])
        def features_eu(feature_table: pd.DataFrame, weights: pd.Series) -> pd.DataFrame:
            return feature_table * weights
    """

    def __init__(
        self,
        *load_from: types.ModuleType | Callable[..., Any],
        inputs: Mapping[str, ParametrizedDependency] | None = None,
        config: Mapping[str, Any] | None = None,
        namespace: str | None = None,
        final_node_name: str | None = None,
        external_inputs: Sequence[str] | None = None,
    ) -> None:
        if not load_from:
            raise invalid(self.decorator_name, None, "name at least one module or function")
        self.load_from = load_from
        self.inputs = dict(inputs or {})
        self.config = dict(config or {})
        self.namespace = namespace
        self.final_node_name = final_node_name
        self.external_inputs = list(external_inputs or [])
        shared = set(self.inputs) & set(self.config)
        if shared:
            raise invalid(
                self.decorator_name, None, f"keys {sorted(shared)} are both inputs and config"
            )
        bad = {
            k: v
            for k, v in self.inputs.items()
            if not isinstance(v, (UpstreamDependency, LiteralDependency))
        }
        if bad:
            raise invalid(
                self.decorator_name, None, f"inputs must be source(...) or value(...): {bad!r}"
            )

    def create(self, ctx: BuildContext) -> list[Node]:
        cfg, own_config = _resolve_config(ctx.config, self.config, self.decorator_name, ctx)
        inner = nodes_for_functions(_functions(self.load_from), cfg)
        namespace = self.namespace or ctx.name
        inner_names = {n.name for n in inner}
        clash = sorted(inner_names & (set(self.inputs) | set(own_config)))
        if clash:
            raise self.error(
                ctx, f"{clash} are nodes of the subdag; inputs and config can only feed its inputs"
            )
        renamed = {
            name: f"{namespace}.{name}" for name in (*inner_names, *self.inputs, *own_config)
        }
        out: list[Node] = []
        for node in inner:
            plan = {d: source(renamed[d]) for d in node.dependency_names if d in renamed}
            out.append(rebind(node, plan).copy_with(name=renamed[node.name]))
        read_types = {d.name: d.type for n in out for d in n.dependencies}
        for key, spec in self.inputs.items():
            name = renamed[key]
            if isinstance(spec, LiteralDependency):
                out.append(self._static(name, spec.value, ctx))
            elif isinstance(spec, UpstreamDependency) and name in read_types:
                out.append(self._identity(name, spec.source, read_types[name], ctx))
        out.extend(self._static(renamed[k], v, ctx) for k, v in own_config.items())
        ctx.internal.update(n.name for n in out)
        out.append(self._final_node(ctx, namespace))
        return out

    def _final_node(self, ctx: BuildContext, namespace: str) -> Node:
        node = default_node(ctx).copy_with(name=self.final_node_name or ctx.name)
        plan = {
            d: source(f"{namespace}.{d}")
            for d in node.dependency_names
            if d not in self.external_inputs
        }
        return rebind(node, plan)

    @staticmethod
    def _static(name: str, value: Any, ctx: BuildContext) -> Node:
        return Node(
            name=name,
            type=type(value),
            callable=constant(value),
            originating_function=ctx.fn,
            module=getattr(ctx.fn, "__module__", "") or "",
        )

    @staticmethod
    def _identity(name: str, source_name: str, type_: Any, ctx: BuildContext) -> Node:
        def same(**kwargs: Any) -> Any:
            return kwargs[source_name]

        return Node(
            name=name,
            type=type_,
            callable=glue(same, False),
            dependencies=(Dependency(source_name, type_),),
            originating_function=ctx.fn,
            module=getattr(ctx.fn, "__module__", "") or "",
        )


class SubdagParams(TypedDict, total=False):
    """One entry of ``@parameterized_subdag``: its inputs, config and external inputs."""

    inputs: dict[str, ParametrizedDependency]
    config: dict[str, Any]
    external_inputs: list[str]


class parameterized_subdag(Creator):
    """Several ``@subdag``s of the same functions, one per keyword (its namespace and name).

    ``inputs`` and ``config`` given directly apply to all; each keyword's own ``inputs`` and
    ``config`` are merged over them.

    Example::

        @parameterized_subdag(
            features,
            features_eu={"inputs": {"raw": source("raw_eu")}},
            features_us={"inputs": {"raw": source("raw_us")}, "config": {"metric": "imperial"}},
        )
        def features(feature_table: pd.DataFrame) -> pd.DataFrame:
            return feature_table
    """

    def __init__(
        self,
        *load_from: types.ModuleType | Callable[..., Any],
        inputs: Mapping[str, ParametrizedDependency] | None = None,
        config: Mapping[str, Any] | None = None,
        external_inputs: Sequence[str] | None = None,
        **parameterization: SubdagParams,
    ) -> None:
        self.subdags = [
            subdag(
                *load_from,
                inputs={**(inputs or {}), **spec.get("inputs", {})},
                config={**(config or {}), **spec.get("config", {})},
                external_inputs=spec.get("external_inputs", list(external_inputs or [])),
                namespace=key,
                final_node_name=key,
            )
            for key, spec in parameterization.items()
        ]

    def create(self, ctx: BuildContext) -> list[Node]:
        return [node for sub in self.subdags for node in sub.create(ctx)]
