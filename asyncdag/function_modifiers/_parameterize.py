"""``@parameterize`` and friends: one function, many nodes with different inputs.

Example::

    @parameterize(
        revenue_eu={"rows": source("rows_eu"), "rate": value(1.1)},
        revenue_us=({"rows": source("rows_us"), "rate": value(1.0)}, "US revenue"),
    )
    def revenue(rows: list[float], rate: float) -> float:
        '''{output_name}: the sum of {rows} at rate {rate}.'''
        return sum(rows) * rate
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from asyncdag.function_modifiers._base import BuildContext, NodeSetModifier, Stage, invalid
from asyncdag.function_modifiers._dependencies import (
    ConfigDependency,
    LiteralDependency,
    ParametrizedDependency,
    UpstreamDependency,
    source,
    value,
)
from asyncdag.function_modifiers._wrap import rebind
from asyncdag.graph._node import Node

__all__ = ["inject", "parameterize", "parameterize_sources", "parameterize_values"]

_RESERVED_PARAM = "output_name"


class _TemplateValues(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class parameterize(NodeSetModifier):
    """Make one node per keyword: each binds some parameters to a ``source`` or ``value``.

    Each keyword is a node name; its value is a dict from parameter name to ``source(...)``,
    ``value(...)``, ``group(...)`` or ``configuration(...)``, optionally in a tuple with the
    node's docstring. Otherwise the function's docstring is used, formatted with
    ``{output_name}`` and the bound parameters.

    Example::

        @parameterize(plus_one={"n": value(1)}, plus_x={"n": source("x")})
        def plus(base: int, n: int) -> int:
            return base + n
    """

    stage = Stage.EXPAND
    allows_multiple: ClassVar[bool] = False
    _self_name: ClassVar[object] = object()  # stands for the function's own node name

    def __init__(
        self,
        **parametrization: Mapping[str, ParametrizedDependency]
        | tuple[Mapping[str, ParametrizedDependency], str],
    ) -> None:
        self.outputs: dict[Any, tuple[dict[str, ParametrizedDependency], str | None]] = {}
        for output, spec in parametrization.items():
            self._add_output(output, spec)

    def _add_output(self, output: Any, spec: Any) -> None:
        doc: str | None = None
        if isinstance(spec, tuple):
            if len(spec) != 2 or not isinstance(spec[1], str):
                raise invalid(self.decorator_name, None, f"{output}: expected (mapping, docstring)")
            spec, doc = spec
        if not isinstance(spec, Mapping):
            raise invalid(
                self.decorator_name,
                None,
                f"{output}: expected a dict of parameter -> source(...)/value(...), got {spec!r}",
            )
        bad = {p: v for p, v in spec.items() if not isinstance(v, ParametrizedDependency)}
        if bad:
            raise invalid(
                self.decorator_name,
                None,
                f"{output}: wrap each value in source(...) or value(...); got {bad!r}",
            )
        self.outputs[output] = (dict(spec), doc)

    def apply(self, nodes: list[Node], ctx: BuildContext) -> list[Node]:
        node = self._single(nodes, ctx)
        params = set(node.dependency_names)
        if _RESERVED_PARAM in params:
            raise self.error(
                ctx, f"a parameter may not be named {_RESERVED_PARAM!r}: it is reserved"
            )
        missing = sorted({p for spec, _ in self.outputs.values() for p in spec} - params)
        if missing:
            raise self.error(
                ctx, f"the function has no parameter(s) {missing}; it has {sorted(params)}"
            )
        out: list[Node] = []
        for output, (spec, doc) in self.outputs.items():
            name = node.name if output is parameterize._self_name else output
            plan = self._resolve_config(spec, ctx)
            try:
                new = rebind(node, plan)
            except TypeError as exc:
                raise self.error(ctx, f"{name}: {exc}") from None
            text = doc if doc is not None else _format_doc(node.doc, name, plan)
            out.append(new.copy_with(name=name, doc=text))
        return out

    def _single(self, nodes: list[Node], ctx: BuildContext) -> Node:
        if len(nodes) != 1:
            raise self.error(
                ctx,
                f"needs exactly one node to expand, but the function already defines"
                f" {[n.name for n in nodes]}",
            )
        return nodes[0]

    def _resolve_config(
        self, spec: Mapping[str, ParametrizedDependency], ctx: BuildContext
    ) -> dict[str, ParametrizedDependency]:
        plan: dict[str, ParametrizedDependency] = {}
        for param, dep in spec.items():
            if isinstance(dep, ConfigDependency):
                if dep.source not in ctx.config:
                    raise self.error(
                        ctx, f"parameter {param!r}: config key {dep.source!r} is not in the config"
                    )
                dep = LiteralDependency(ctx.config[dep.source])
            plan[param] = dep
        return plan


def _format_doc(doc: str, output: str, plan: Mapping[str, ParametrizedDependency]) -> str:
    if not doc:
        return doc
    values = _TemplateValues(output_name=output)
    for param, dep in plan.items():
        if isinstance(dep, UpstreamDependency):
            values[param] = dep.source
        elif isinstance(dep, LiteralDependency):
            values[param] = dep.value
    try:
        return doc.format_map(values)
    except (ValueError, IndexError, AttributeError, KeyError):
        return doc  # braces that are not a template: keep the docstring as written


class parameterize_values(parameterize):
    """Make one node per value of a single parameter.

    ``assigned_output`` maps ``(node name, docstring)`` to the parameter's value.

    Example::

        @parameterize_values(parameter="n", assigned_output={("ten", "n=10"): 10})
        def times(base: int, n: int) -> int:
            return base * n
    """

    def __init__(self, parameter: str, assigned_output: Mapping[tuple[str, str], Any]) -> None:
        super().__init__()
        for key, literal in assigned_output.items():
            if not (isinstance(key, tuple) and len(key) == 2):
                raise invalid(
                    self.decorator_name,
                    None,
                    f"assigned_output keys must be (node name, docstring) tuples, got {key!r}",
                )
            output, doc = key
            self._add_output(output, ({parameter: value(literal)}, doc))


class parameterize_sources(parameterize):
    """Make one node per keyword, each reading some parameters from other nodes.

    Example::

        @parameterize_sources(total_eu={"rows": "rows_eu"}, total_us={"rows": "rows_us"})
        def total(rows: list[float]) -> float:
            return sum(rows)
    """

    def __init__(self, **parameterization: Mapping[str, str]) -> None:
        super().__init__()
        if not parameterization:
            raise invalid(self.decorator_name, None, "needs at least one output")
        for output, mapping in parameterization.items():
            if not mapping:
                raise invalid(self.decorator_name, None, f"{output}: the mapping is empty")
            self._add_output(output, {p: source(s) for p, s in mapping.items()})


class inject(parameterize):
    """Feed some parameters of the function from other nodes, literals or groups.

    Like ``@parameterize`` with a single output: the function's own node.

    Example (the seed's shape)::

        @inject(sub_metrics=group(source("sub_metric_1"), source("sub_metric_2")))
        def all_metrics(sub_metrics: list[dict]) -> dict:
            ...
    """

    def __init__(self, **key_mapping: ParametrizedDependency) -> None:
        super().__init__()
        self._add_output(parameterize._self_name, dict(key_mapping))
