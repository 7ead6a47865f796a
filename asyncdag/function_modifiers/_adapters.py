"""``@load_from``, ``@save_to``, ``@dataloader``, ``@datasaver``: data in and out of a dataflow.

``load_from.<key>(...)`` feeds a parameter from a loader, ``save_to.<key>(...)`` adds a node
that saves a function's result; the key picks the adapter (``json``, ``csv``, ``pickle``,
``file``, ``parquet`` ... see :mod:`asyncdag.io`), and the parameter's or result's type picks
among the adapters of that key. Adapter parameters are literals, ``value(...)`` or
``source(...)`` (read from a node or an input, so one file per item inside a block)::

    @load_from.csv(path=source("location"), sep=value(";"))
    def raw_data(df: pd.DataFrame) -> pd.DataFrame:
        return df

    @save_to.json(path=source("report_path"), output_name_="report_saved")
    def report(raw_data: pd.DataFrame) -> dict:
        return {"rows": len(raw_data)}

Nodes and tags follow Hamilton: ``raw_data.load_data.df`` returns ``(data, metadata)``,
``raw_data.select_data.df`` the data; ``report_saved`` returns the saver's metadata. An
adapter with an async method makes an ``async`` node (the built-in file adapters do), so the
file is read and written without holding a thread or the event loop.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from asyncdag.function_modifiers._base import (
    BuildContext,
    Creator,
    NodeSetModifier,
    Stage,
    Transformer,
    invalid,
)
from asyncdag.function_modifiers._dependencies import (
    LiteralDependency,
    UpstreamDependency,
    source,
)
from asyncdag.function_modifiers._resolve import default_node
from asyncdag.function_modifiers._wrap import glue, rebind
from asyncdag.graph._node import Dependency, Node
from asyncdag.graph._types import describe
from asyncdag.io._registry import LOADER_REGISTRY, SAVER_REGISTRY
from asyncdag.io.data_adapters import AdapterCommon, DataLoader, DataSaver

__all__ = [
    "LOADER_TAGS",
    "SAVER_TAGS",
    "dataloader",
    "datasaver",
    "load_from",
    "loader_nodes",
    "resolve_adapter_class",
    "save_to",
    "saver_node",
]

#: Hamilton's tag names on loader and saver nodes.
LOADER_TAGS = "hamilton.data_loader"
SAVER_TAGS = "hamilton.data_saver"


def resolve_adapter_class(type_: Any, candidates: Sequence[type[Any]]) -> type[Any] | None:
    """The adapter of ``candidates`` for ``type_``: the last registered that fits, where an
    adapter of ``Any`` (pickle, literal, memory) comes only after every specific one."""
    specific: list[type[Any]] = []
    generic: list[type[Any]] = []
    for cls in reversed(candidates):
        if Any in cls.applicable_types() or object in cls.applicable_types():
            if cls.applies_to(type_):
                generic.append(cls)
        elif cls.applies_to(type_):
            specific.append(cls)
    found = specific or generic
    return found[0] if found else None


def _split_kwargs(
    decorator: str, cls: type[AdapterCommon], kwargs: Mapping[str, Any], fn: Any
) -> tuple[dict[str, Any], dict[str, str]]:
    """(literal parameters, parameter -> source name); checks names against the adapter."""
    required = cls.get_required_arguments()
    optional = cls.get_optional_arguments()
    missing = sorted(set(required) - set(kwargs))
    extra = sorted(set(kwargs) - set(required) - set(optional))
    if missing or extra:
        problems = []
        if missing:
            problems.append(f"missing parameters {missing}")
        if extra:
            problems.append(f"unknown parameters {extra}")
        raise invalid(
            decorator,
            fn,
            f"{cls.__qualname__} ({cls.name()!r}): {'; '.join(problems)}. It takes"
            f" {sorted(required)} and optionally {sorted(optional)}.",
        )
    literal: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, given in kwargs.items():
        if isinstance(given, UpstreamDependency):
            sources[key] = given.source
        elif isinstance(given, LiteralDependency):
            literal[key] = given.value
        else:
            literal[key] = given
    return literal, sources


def _source_dependencies(cls: type[AdapterCommon], sources: Mapping[str, str]) -> list[Dependency]:
    required = cls.get_required_arguments()
    optional = cls.get_optional_arguments()
    return [
        Dependency(name, required.get(key, optional.get(key, Any)), required=key in required)
        for key, name in sources.items()
    ]


def _adapter_factory(
    cls: type[AdapterCommon], literal: Mapping[str, Any], sources: Mapping[str, str]
) -> Callable[[Mapping[str, Any]], Any]:
    by_source = {name: key for key, name in sources.items()}

    def make(kwargs: Mapping[str, Any]) -> Any:
        given = {by_source[k]: v for k, v in kwargs.items() if k in by_source}
        return cls(**literal, **given)

    return make


def loader_nodes(
    decorator: str,
    fn: Any,
    name: str,
    load_type: Any,
    candidates: Sequence[type[DataLoader]],
    kwargs: Mapping[str, Any],
    *,
    namespace: str | None,
    key: str,
) -> list[Node]:
    """The loader node (``(data, metadata)``) and the node that selects the data, named
    ``<namespace>.load_data.<name>`` and ``<namespace>.select_data.<name>``; without a
    namespace, ``load_data.<name>`` and ``name`` itself."""
    cls = resolve_adapter_class(load_type, candidates)
    if cls is None:
        raise invalid(
            decorator,
            fn,
            f"no {key!r} loader loads {describe(load_type)} (for {name!r}); the {key!r} loaders"
            f" load {[describe(t) for c in candidates for t in c.applicable_types()]}",
        )
    literal, sources = _split_kwargs(decorator, cls, kwargs, fn)
    make = _adapter_factory(cls, literal, sources)
    is_async = cls.is_async()
    if is_async:

        async def load_async(**kw: Any) -> Any:
            return await make(kw).aload_data(load_type)

        load: Callable[..., Any] = load_async
    else:

        def load_sync(**kw: Any) -> Any:
            return make(kw).load_data(load_type)

        load = load_sync
    if namespace is None:
        loader_name, select_name = f"load_data.{name}", name
    else:
        loader_name = f"{namespace}.load_data.{name}"
        select_name = f"{namespace}.select_data.{name}"
    tags = {
        LOADER_TAGS: True,
        f"{LOADER_TAGS}.source": cls.name(),
        f"{LOADER_TAGS}.classname": cls.__qualname__,
        f"{LOADER_TAGS}.node": name,
    }
    loader = Node(
        name=loader_name,
        type=tuple[load_type, dict[str, Any]],
        callable=load,
        dependencies=tuple(_source_dependencies(cls, sources)),
        is_async=is_async,
        tags={**tags, f"{LOADER_TAGS}.has_metadata": True},
        doc=f"Loads {name!r} with {cls.__qualname__}: (data, metadata).",
        originating_function=fn,
        module=getattr(fn, "__module__", "") or "",
    )

    def select(**kw: Any) -> Any:
        return kw[loader_name][0]

    selected = Node(
        name=select_name,
        type=load_type,
        callable=glue(select, is_async),
        dependencies=(Dependency(loader_name, loader.type),),
        is_async=is_async,
        tags={**tags, f"{LOADER_TAGS}.has_metadata": False},
        doc=f"The data of {loader_name!r}.",
        originating_function=fn,
        module=loader.module,
    )
    return [loader, selected]


def saver_node(
    decorator: str,
    fn: Any,
    target: Node,
    name: str,
    candidates: Sequence[type[DataSaver]],
    kwargs: Mapping[str, Any],
    *,
    key: str,
) -> Node:
    """A node named ``name`` that saves ``target``'s value and returns the metadata."""
    cls = resolve_adapter_class(target.type, candidates)
    if cls is None:
        raise invalid(
            decorator,
            fn,
            f"no {key!r} saver saves {describe(target.type)} (node {target.name!r}); the {key!r}"
            f" savers take {[describe(t) for c in candidates for t in c.applicable_types()]}",
        )
    literal, sources = _split_kwargs(decorator, cls, kwargs, fn)
    make = _adapter_factory(cls, literal, sources)
    data_name = target.name
    is_async = cls.is_async()
    if is_async:

        async def save_async(**kw: Any) -> Any:
            return await make(kw).asave_data(kw[data_name])

        save: Callable[..., Any] = save_async
    else:

        def save_sync(**kw: Any) -> Any:
            return make(kw).save_data(kw[data_name])

        save = save_sync
    return Node(
        name=name,
        type=dict[str, Any],
        callable=save,
        dependencies=(Dependency(data_name, target.type), *_source_dependencies(cls, sources)),
        is_async=is_async,
        tags={
            SAVER_TAGS: True,
            f"{SAVER_TAGS}.sink": cls.name(),
            f"{SAVER_TAGS}.classname": cls.__qualname__,
        },
        doc=f"Saves {data_name!r} with {cls.__qualname__}; returns what it wrote (metadata).",
        originating_function=fn,
        module=target.module,
    )


class _LoadFrom(NodeSetModifier):
    """``@load_from.<key>(..., inject_=None)``: see :class:`load_from`."""

    stage = Stage.INJECT

    def __init__(
        self, key: str, candidates: Sequence[type[DataLoader]], inject_: str | None, **kwargs: Any
    ) -> None:
        self.key = key
        self.candidates = tuple(candidates)
        self.inject = inject_
        self.kwargs = kwargs

    @property
    def decorator_name(self) -> str:
        return f"load_from.{self.key}"

    def apply(self, nodes: list[Node], ctx: BuildContext) -> list[Node]:
        produced = {n.name for n in nodes}
        outside: dict[str, Any] = {}
        for node in nodes:
            for dep in node.dependencies:
                if dep.name not in produced:
                    outside.setdefault(dep.name, dep.type)
        if self.inject is None:
            if len(outside) != 1:
                raise self.error(
                    ctx,
                    f"the function reads {sorted(outside)}; name the parameter to load into"
                    " with inject_=...",
                )
            param = next(iter(outside))
        elif self.inject not in outside:
            raise self.error(ctx, f"inject_={self.inject!r} is not among {sorted(outside)}")
        else:
            param = self.inject
        made = loader_nodes(
            self.decorator_name,
            ctx.fn,
            param,
            outside[param],
            self.candidates,
            self.kwargs,
            namespace=ctx.name,
            key=self.key,
        )
        select = made[-1].name
        rewired = [
            rebind(n, {param: source(select)}) if param in n.dependency_names else n for n in nodes
        ]
        ctx.internal.update(m.name for m in made)
        return [*made, *rewired]


class _SaveTo(Transformer):
    """``@save_to.<key>(..., output_name_=None, target_=None)``: see :class:`save_to`."""

    single_target = True

    def __init__(
        self,
        key: str,
        candidates: Sequence[type[DataSaver]],
        output_name_: str | None = None,
        target_: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.key = key
        super().__init__(target_)
        self.candidates = tuple(candidates)
        self.output_name = output_name_
        self.kwargs = kwargs

    @property
    def decorator_name(self) -> str:
        return f"save_to.{self.key}"

    def transform_node(self, node: Node, ctx: BuildContext) -> list[Node]:
        name = self.output_name or f"save.{node.name}"
        saver = saver_node(
            self.decorator_name, ctx.fn, node, name, self.candidates, self.kwargs, key=self.key
        )
        return [node, saver]


class _ByKey(type):
    """``load_from.json`` / ``save_to.csv``: a decorator factory per registered key."""

    def __getattr__(cls, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        maker = cls.__dict__.get("_make")
        if maker is None:  # pragma: no cover - every subclass defines it
            raise AttributeError(key)
        made: Any = maker.__func__(cls, key)
        return made


class load_from(metaclass=_ByKey):
    """Feed a parameter from a loader: ``@load_from.<key>(param=..., inject_="name")``.

    ``inject_`` names the parameter when the function has more than one. Keys: see
    :data:`asyncdag.io.LOADER_REGISTRY`.
    """

    @classmethod
    def _make(cls, key: str) -> Callable[..., _LoadFrom]:
        candidates = LOADER_REGISTRY.get(key)
        if not candidates:
            raise AttributeError(
                f"no loader is registered as {key!r}; known: {sorted(LOADER_REGISTRY)}."
                " Register one with asyncdag.registry.register_adapter."
            )

        def decorator(inject_: str | None = None, **kwargs: Any) -> _LoadFrom:
            return _LoadFrom(key, candidates, inject_, **kwargs)

        return decorator


class save_to(metaclass=_ByKey):
    """Add a node that saves the function's result: ``@save_to.<key>(param=...,
    output_name_="name")`` (default name ``save.<node>``; ``target_`` picks one node of a
    function that defines several). Keys: see :data:`asyncdag.io.SAVER_REGISTRY`.
    """

    @classmethod
    def _make(cls, key: str) -> Callable[..., _SaveTo]:
        candidates = SAVER_REGISTRY.get(key)
        if not candidates:
            raise AttributeError(
                f"no saver is registered as {key!r}; known: {sorted(SAVER_REGISTRY)}."
                " Register one with asyncdag.registry.register_adapter."
            )

        def decorator(
            output_name_: str | None = None, target_: str | None = None, **kwargs: Any
        ) -> _SaveTo:
            return _SaveTo(key, candidates, output_name_, target_, **kwargs)

        return decorator


def _return_hint(ctx: BuildContext) -> Any:
    hints = typing.get_type_hints(inspect.unwrap(ctx.fn))
    return hints.get("return", inspect.Signature.empty)


class dataloader(Creator):
    """A function that loads data itself and returns ``(data, metadata)``.

    Defines ``<name>.loader`` (the function, returning the tuple) and ``<name>`` (the data)::

        @dataloader()
        def orders(path: str) -> tuple[pd.DataFrame, dict]:
            df = pd.read_csv(path)
            return df, {"path": path, "rows": len(df)}
    """

    def create(self, ctx: BuildContext) -> list[Node]:
        returns = _return_hint(ctx)
        args = typing.get_args(returns)
        if typing.get_origin(returns) is not tuple or len(args) != 2:
            raise self.error(ctx, "the function must be annotated to return tuple[DATA, dict]")
        meta = typing.get_origin(args[1]) or args[1]
        if not (isinstance(meta, type) and issubclass(meta, dict)):
            raise self.error(ctx, "the second element of the returned tuple must be a dict")
        base = default_node(ctx)
        loader_name = f"{ctx.name}.loader"
        tags = {
            LOADER_TAGS: True,
            f"{LOADER_TAGS}.node": ctx.name,
            f"{LOADER_TAGS}.classname": f"{ctx.name}()",
        }
        loader = base.copy_with(
            name=loader_name,
            type=returns,
            tags={
                **base.tags,
                **tags,
                f"{LOADER_TAGS}.has_metadata": True,
                f"{LOADER_TAGS}.source": "loader",
            },
        )

        def select(**kw: Any) -> Any:
            return kw[loader_name][0]

        selected = Node(
            name=ctx.name,
            type=args[0],
            callable=glue(select, loader.is_async),
            dependencies=(Dependency(loader_name, returns),),
            is_async=loader.is_async,
            tags={**tags, f"{LOADER_TAGS}.has_metadata": False, f"{LOADER_TAGS}.source": ctx.name},
            doc=base.doc,
            originating_function=ctx.fn,
            module=base.module,
        )
        return [loader, selected]


class datasaver(Creator):
    """A function that saves data itself and returns a dict of metadata about it::

    @datasaver()
    def orders_saved(orders: pd.DataFrame, path: str) -> dict:
        orders.to_csv(path)
        return {"path": path}
    """

    def create(self, ctx: BuildContext) -> list[Node]:
        returns = _return_hint(ctx)
        origin = typing.get_origin(returns) or returns
        if not (isinstance(origin, type) and issubclass(origin, dict)):
            raise self.error(ctx, "the function must be annotated to return dict (its metadata)")
        base = default_node(ctx)
        return [
            base.copy_with(
                tags={
                    **base.tags,
                    SAVER_TAGS: True,
                    f"{SAVER_TAGS}.sink": ctx.name,
                    f"{SAVER_TAGS}.classname": f"{ctx.name}()",
                }
            )
        ]
