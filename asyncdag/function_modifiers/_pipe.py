"""``@pipe_input``, ``@pipe_output``, ``@mutate`` and ``step``: chains of small functions as nodes.

Each ``step(fn, ...)`` becomes a node that receives the previous value as ``fn``'s first
parameter; its other parameters come from ``source``/``value`` or literals::

    def _add(x: int, n: int) -> int:
        return x + n

    @pipe_input(step(_add, n=1), step(_add, n=source("offset")))
    def result(raw: int) -> int:
        return raw

makes ``result.with_add`` (raw + 1), ``result.with_add_1`` (+ offset), then ``result``.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from typing import Any

from asyncdag.errors import GraphError
from asyncdag.function_modifiers._base import (
    BuildContext,
    NodeSetModifier,
    Stage,
    TargetType,
    Transformer,
    check_target,
    invalid,
    modifiers_of,
)
from asyncdag.function_modifiers._config import config, hamilton_exclude
from asyncdag.function_modifiers._dependencies import (
    LiteralDependency,
    ParametrizedDependency,
    UpstreamDependency,
    source,
)
from asyncdag.function_modifiers._wrap import glue, rebind
from asyncdag.graph._node import Dependency, Node, node_from_function

__all__ = ["Applicable", "apply_to", "mutate", "pipe", "pipe_input", "pipe_output", "step"]

#: ``...`` keeps the default namespace, ``None`` means none, a string names one.
NamespaceType = Any


@dataclasses.dataclass
class Applicable:
    """A function to apply in a chain, with its bound arguments; made by ``step``/``apply_to``.

    Refine it with ``.when*(...)`` (only under some config), ``.named(name, namespace)`` and
    ``.on_output(names)`` (which outputs of the target it applies to, for ``mutate``).
    """

    fn: Callable[..., Any] | None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    target_fn: Callable[..., Any] | None = None
    resolvers: tuple[config, ...] = ()
    name: str | None = None
    namespace: NamespaceType = ...
    target: TargetType = None

    def __post_init__(self) -> None:
        if isinstance(self.fn, str) or isinstance(self.target_fn, str):
            raise TypeError("step()/apply_to() take the function itself, not its name")
        if "_name" in self.kwargs:
            raise ValueError("_name is not a valid keyword for step(); use .named(...)")

    def _with(self, **changes: Any) -> Applicable:
        return dataclasses.replace(self, **changes)

    def when(self, **key_value_pairs: Any) -> Applicable:
        """Apply only when the config matches, like ``@config.when``."""
        return self._with(resolvers=(*self.resolvers, config.when(**key_value_pairs)))

    def when_not(self, **key_value_pairs: Any) -> Applicable:
        """Apply only when the config does not match, like ``@config.when_not``."""
        return self._with(resolvers=(*self.resolvers, config.when_not(**key_value_pairs)))

    def when_in(self, **key_value_group_pairs: Collection[Any]) -> Applicable:
        """Apply only when the config values are among the given ones."""
        return self._with(
            resolvers=(*self.resolvers, config.when_in(None, **key_value_group_pairs))
        )

    def when_not_in(self, **key_value_group_pairs: Collection[Any]) -> Applicable:
        """Apply only when the config values are not among the given ones."""
        excluded = config.when_not_in(None, **key_value_group_pairs)
        return self._with(resolvers=(*self.resolvers, excluded))

    def namespaced(self, namespace: NamespaceType) -> Applicable:
        """Set the namespace: ``...`` (the decorated function's name), ``None`` or a string."""
        return self._with(namespace=namespace)

    def named(self, name: str, namespace: NamespaceType = ...) -> Applicable:
        """Name the step's node; ``namespace`` as in :meth:`namespaced` (``...`` keeps it)."""
        return self._with(
            name=name if name is not None else self.name,
            namespace=self.namespace if namespace is ... else namespace,
        )

    def on_output(self, target: TargetType) -> Applicable:
        """Apply only to these outputs of the target (with ``mutate``/``pipe_output``)."""
        return self._with(target=target if target is not None else self.target)

    def resolves(self, cfg: Mapping[str, Any]) -> bool:
        return all(r.does_resolve(cfg) for r in self.resolvers)

    def resolve_namespace(self, default: str) -> tuple[str, ...]:
        if self.namespace is ...:
            return (default,)
        return () if self.namespace is None else (self.namespace,)

    def problem(self, chain_first_param: bool, allow_custom_namespace: bool) -> str | None:
        """What is wrong with applying this function, or ``None``."""
        fn = self.fn
        assert fn is not None
        label = getattr(fn, "__name__", repr(fn))
        params = list(inspect.signature(fn).parameters.values())
        if not params:
            return f"step function {label} has no parameters to receive the value"
        odd = [p.name for p in params if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if odd:
            return f"step function {label}: parameters {odd} are not plain named parameters"
        args = ((...,) if chain_first_param else ()) + tuple(self.args)
        try:
            inspect.signature(fn).bind(*args, **self.kwargs)
        except TypeError as exc:
            return (
                f"step function {label} cannot take args {self.args} and kwargs"
                f" {self.kwargs}: {exc}"
            )
        if self.namespace is not ... and not allow_custom_namespace:
            return "set the namespace either on the pipe or on its steps, not both"
        return None

    def binding(self, current_param: str | None) -> dict[str, ParametrizedDependency]:
        """Where each bound parameter of the step function gets its value."""
        assert self.fn is not None
        args = tuple(self.args)
        if current_param is not None:
            args = (source(current_param), *args)
        bound = inspect.signature(self.fn).bind(*args, **self.kwargs)
        plan: dict[str, ParametrizedDependency] = {}
        for param, given in bound.arguments.items():
            if isinstance(given, (UpstreamDependency, LiteralDependency)):
                plan[param] = given
            else:
                plan[param] = LiteralDependency(given)
        return plan


def step(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Applicable:
    """One link of a ``pipe_input``/``pipe_output`` chain: ``fn`` with bound arguments.

    Plain values are literals; use ``source("node")`` to read a node.

    Example: ``step(_scale, factor=source("factor")).when(mode="scaled")``.
    """
    return Applicable(fn=fn, args=args, kwargs=dict(kwargs))


def apply_to(fn_: Callable[..., Any], **mutating_fn_kwargs: Any) -> Applicable:
    """Name a function to mutate, with per-target arguments; for ``@mutate``.

    Example: ``@mutate(apply_to(prices, factor=value(2)))``.
    """
    return Applicable(fn=None, kwargs=dict(mutating_fn_kwargs), target_fn=fn_)


def chain_steps(
    target_arg: str,
    applicables: Collection[Applicable],
    namespace: NamespaceType,
    ctx: BuildContext,
    decorator: str,
) -> tuple[list[Node], str]:
    """Nodes for the steps the config keeps, each reading the previous one, and the last name."""
    counts: Counter[str] = Counter()
    nodes: list[Node] = []
    for applicable in applicables:
        if namespace is not ...:
            applicable = applicable.namespaced(namespace)
        if not applicable.resolves(ctx.config):
            continue
        assert applicable.fn is not None
        fn_name = getattr(applicable.fn, "__name__", "step")
        suffix = f"_{counts[fn_name]}" if counts[fn_name] else ""
        counts[fn_name] += 1
        local = applicable.name or f"with{'' if fn_name.startswith('_') else '_'}{fn_name}{suffix}"
        full = ".".join((*applicable.resolve_namespace(ctx.name), local))
        try:
            base = node_from_function(applicable.fn, full)
            node = rebind(base, applicable.binding(target_arg))
        except (GraphError, TypeError) as exc:
            raise invalid(decorator, ctx.fn, f"step {local!r}: {exc}") from None
        nodes.append(node)
        target_arg = full
    return nodes, target_arg


class pipe_input(NodeSetModifier):
    """Run a chain of steps on a parameter before the function sees it.

    The chain applies to the first parameter, or to ``on_input``. Step nodes are named
    ``<function>.with_<step function>`` unless renamed with ``.named``; ``namespace`` changes the
    prefix (``None`` for none).

    Example::

        @pipe_input(step(_strip), step(_lower))
        def cleaned(text: str) -> str:
            return text
    """

    stage = Stage.INJECT

    def __init__(
        self,
        *transforms: Applicable,
        namespace: NamespaceType = ...,
        on_input: str | None = None,
        collapse: bool = False,
        _chain: bool = False,
    ) -> None:
        if on_input is not None and not isinstance(on_input, str):
            raise invalid(self.decorator_name, None, "on_input takes one parameter name")
        if collapse or _chain:
            raise invalid(self.decorator_name, None, "collapse and _chain are not supported")
        self.transforms = tuple(transforms)
        self.namespace = namespace
        self.on_input = on_input

    def apply(self, nodes: list[Node], ctx: BuildContext) -> list[Node]:
        self._check_steps(ctx)
        produced = {n.name for n in nodes}
        inputs = [d for n in nodes for d in n.dependency_names if d not in produced]
        params = list(inspect.signature(ctx.fn).parameters)
        if not params:
            raise self.error(ctx, "the function has no parameter to pipe into")
        param = self.on_input or params[0]
        if param not in inputs:
            raise self.error(
                ctx, f"{param!r} is not a parameter the function reads from outside: {inputs}"
            )
        chain, last = chain_steps(param, self.transforms, self.namespace, ctx, self.decorator_name)
        if not chain:
            return nodes
        rewired = [
            rebind(n, {param: source(last)}) if param in n.dependency_names else n for n in nodes
        ]
        return [*rewired, *chain]

    def _check_steps(self, ctx: BuildContext) -> None:
        for applicable in self.transforms:
            problem = applicable.problem(True, allow_custom_namespace=self.namespace is ...)
            if problem:
                raise self.error(ctx, problem)


class pipe(pipe_input):
    """Hamilton's earlier name of :class:`pipe_input`."""


class pipe_output(Transformer):
    """Run a chain of steps on the function's result; the node keeps its name.

    ``f`` becomes ``f.raw`` -> ``f.with_<step>`` ... -> ``f``. ``on_output`` (or a step's
    ``.on_output``) picks which of the function's outputs the chain applies to.

    Example::

        @pipe_output(step(_round, digits=2))
        def price(cost: float, margin: float) -> float:
            return cost * (1 + margin)
    """

    def __init__(
        self,
        *transforms: Applicable,
        namespace: NamespaceType = ...,
        on_output: TargetType = None,
        collapse: bool = False,
        _chain: bool = False,
    ) -> None:
        if on_output is ...:
            raise invalid(self.decorator_name, None, "on_output takes None, a name or names")
        if on_output is not None and any(t.target is not None for t in transforms):
            raise invalid(
                self.decorator_name, None, "set targets on the pipe or on its steps, not both"
            )
        if collapse or _chain:
            raise invalid(self.decorator_name, None, "collapse and _chain are not supported")
        check_target(self.decorator_name, on_output)
        super().__init__(target=on_output)
        self.transforms = tuple(transforms)
        self.namespace = namespace

    def apply(self, nodes: list[Node], ctx: BuildContext) -> list[Node]:
        for applicable in self.transforms:
            problem = applicable.problem(True, allow_custom_namespace=self.namespace is ...)
            if problem:
                raise self.error(ctx, problem)
        return super().apply(nodes, ctx)

    def transform_node(self, node: Node, ctx: BuildContext) -> list[Node]:
        steps = [t for t in self.transforms if _targets(t.target, node.name)]
        if not steps:
            return [node]
        namespace = node.name if self.namespace is ... else self.namespace
        raw = node.copy_with(name=f"{node.name}.raw")
        chain, last = chain_steps(raw.name, steps, namespace, ctx, self.decorator_name)
        if not chain:
            return [node]
        tail = chain[-1]

        def same(**kwargs: Any) -> Any:
            return kwargs[last]

        final = Node(
            name=node.name,
            type=tail.type,
            callable=glue(same, tail.is_async),
            dependencies=(Dependency(last, tail.type),),
            is_async=tail.is_async,
            tags=dict(node.tags),
            doc=node.doc,
            originating_function=node.originating_function,
            module=node.module,
        )
        return [raw, *chain, final]


def _targets(target: TargetType, name: str) -> bool:
    if target is None:
        return True
    if isinstance(target, str):
        return target == name
    return name in target


class mutate:
    """Append the decorated function as a ``pipe_output`` step of other functions.

    The decorated function is not a node itself. The first parameter receives the target's
    value; ``mutating_function_kwargs`` (or ``apply_to(fn, ...)`` per target) bind the others.
    Targets must be in the same module.

    Example::

        @mutate(prices, discounts)
        def _clip_negative(values: list[float]) -> list[float]:
            return [max(v, 0.0) for v in values]
    """

    def __init__(
        self,
        *target_functions: Applicable | Callable[..., Any],
        collapse: bool = False,
        _chain: bool = False,
        **mutating_function_kwargs: Any,
    ) -> None:
        if collapse or _chain:
            raise invalid("mutate", None, "collapse and _chain are not supported")
        self.remote_applicables = tuple(
            t if isinstance(t, Applicable) else apply_to(t) for t in target_functions
        )
        self.mutating_function_kwargs = mutating_function_kwargs

    def __call__(self, mutating_fn: Callable[..., Any]) -> Callable[..., Any]:
        hamilton_exclude(mutating_fn)
        for remote in self.remote_applicables:
            target = remote.target_fn
            assert target is not None
            if getattr(target, "__module__", None) != getattr(mutating_fn, "__module__", None):
                raise invalid(
                    "mutate",
                    mutating_fn,
                    f"the target {target.__name__} is in module {target.__module__}; mutate"
                    " only targets functions of its own module",
                )
            new_step = remote._with(
                fn=mutating_fn, kwargs=remote.kwargs or dict(self.mutating_function_kwargs)
            )
            existing = [m for m in modifiers_of(target) if isinstance(m, pipe_output)]
            if existing:
                existing[-1].transforms = (*existing[-1].transforms, new_step)
            else:
                pipe_output(new_step)(target)
        return mutating_fn
