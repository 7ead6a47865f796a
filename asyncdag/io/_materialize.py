"""``to`` and ``from_``: savers and loaders added to a graph from the driver, not the module.

``to.<key>(id=..., dependencies=[...], combine=result_builder, **params)`` adds a node ``id``
that saves the dependencies (joined by ``combine`` when there are several);
``from_.<key>(target=..., **params)`` replaces the node (or input) ``target`` by a loader.
Use them with ``Builder.with_materializers(...)`` or ``Driver.materialize(...)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from asyncdag.errors import GraphError, InvalidDecoratorError
from asyncdag.function_modifiers._adapters import loader_nodes, saver_node
from asyncdag.graph._build import Graph, graph_from_nodes
from asyncdag.graph._node import Dependency, Node
from asyncdag.io._registry import LOADER_REGISTRY, SAVER_REGISTRY
from asyncdag.io.data_adapters import DataLoader, DataSaver

__all__ = ["ExtractorFactory", "MaterializerFactory", "apply_materializers", "from_", "to"]


class MaterializerFactory:
    """What ``to.<key>(...)`` returns: a saver node to add, named ``id``."""

    def __init__(
        self,
        id: str,
        savers: Sequence[type[DataSaver]],
        result_builder: Any | None,
        dependencies: Sequence[Any],
        key: str = "",
        **data_saver_kwargs: Any,
    ) -> None:
        self.id = id
        self.savers = tuple(savers)
        self.result_builder = result_builder
        self.dependencies = list(dependencies)
        self.key = key
        self.data_saver_kwargs = data_saver_kwargs

    def dependency_names(self) -> list[str]:
        return [
            d if isinstance(d, str) else getattr(d, "name", None) or d.__name__
            for d in self.dependencies
        ]

    def generate_nodes(self, graph: Graph) -> list[Node]:
        names = self.dependency_names()
        missing = [n for n in names if n not in graph.nodes]
        if missing:
            raise GraphError(
                f"materializer {self.id!r} saves {missing}, which are not nodes of this graph"
            )
        if self.result_builder is None:
            if len(names) != 1:
                raise InvalidDecoratorError(
                    f"materializer {self.id!r} saves {len(names)} nodes {names}: pass"
                    " combine=<a result builder> (e.g. base.PandasDataFrameResult()) to join"
                    " them into one value, or save one node."
                )
            return [self._saver(graph.nodes[names[0]])]
        builder = self.result_builder

        def join(**kwargs: Any) -> Any:
            return builder.build_result(**{n: kwargs[n] for n in names})

        output_type = (
            builder.output_type() if callable(getattr(builder, "output_type", None)) else Any
        )
        joined = Node(
            name=f"{self.id}_build_result",
            type=output_type,
            callable=join,
            dependencies=tuple(Dependency(n, graph.nodes[n].type) for n in names),
            doc=f"Joins {names} for materializer {self.id!r}.",
            originating_function=getattr(builder, "build_result", None),
        )
        return [joined, self._saver(joined)]

    def _saver(self, target: Node) -> Node:
        return saver_node(
            f"to.{self.key}",
            None,
            target,
            self.id,
            self.savers,
            self.data_saver_kwargs,
            key=self.key,
        )


class ExtractorFactory:
    """What ``from_.<key>(...)`` returns: a loader that replaces the node ``target``."""

    def __init__(
        self,
        target: str,
        loaders: Sequence[type[DataLoader]],
        key: str = "",
        **data_loader_kwargs: Any,
    ) -> None:
        self.target = target
        self.loaders = tuple(loaders)
        self.key = key
        self.data_loader_kwargs = data_loader_kwargs

    def generate_nodes(self, graph: Graph) -> list[Node]:
        node = graph.nodes.get(self.target)
        if node is not None:
            load_type = node.type
        elif self.target in graph.inputs:
            load_type = graph.inputs[self.target][0][1].type
        else:
            raise GraphError(
                f"from_.{self.key}(target={self.target!r}): no node or input is named"
                f" {self.target!r}"
            )
        return loader_nodes(
            f"from_.{self.key}",
            None,
            self.target,
            load_type,
            self.loaders,
            self.data_loader_kwargs,
            namespace=None,
            key=self.key,
        )


def apply_materializers(
    graph: Graph, factories: Sequence[MaterializerFactory | ExtractorFactory]
) -> Graph:
    """``graph`` with the savers added and the loaders in place of their targets."""
    nodes: dict[str, Node] = dict(graph.nodes)
    for factory in factories:
        if isinstance(factory, MaterializerFactory):
            for made in factory.generate_nodes(graph):
                nodes[made.name] = made
    for factory in factories:
        if isinstance(factory, ExtractorFactory):
            for made in factory.generate_nodes(graph):
                nodes[made.name] = made
    return graph_from_nodes(nodes.values(), graph.config)


class _Keys(type):
    def __getattr__(cls, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        make: Callable[[str], Any] = cls.__dict__["_factory"].__func__
        return make(key)


class to(metaclass=_Keys):
    """``to.<key>(id=..., dependencies=[...], combine=None, **params)``: save nodes' values.

    Example::

        dr.materialize(
            to.json(id="summary_json", dependencies=["summary"], path="out/summary.json"),
            to.csv(id="table_csv", dependencies=["a", "b"], combine=base.PandasDataFrameResult(),
                   path="out/table.csv"),
        )
    """

    @staticmethod
    def _factory(key: str) -> Callable[..., MaterializerFactory]:
        savers = SAVER_REGISTRY.get(key)
        if not savers:
            raise AttributeError(
                f"no saver is registered as {key!r}; known: {sorted(SAVER_REGISTRY)}"
            )

        def make(
            id: str, dependencies: Sequence[Any], combine: Any = None, **kwargs: Any
        ) -> MaterializerFactory:
            return MaterializerFactory(id, savers, combine, dependencies, key, **kwargs)

        return make


class from_(metaclass=_Keys):
    """``from_.<key>(target=..., **params)``: load a node's (or input's) value instead.

    Example::

        dr.materialize(from_.csv(target="raw", path="in.csv"), additional_vars=["summary"])
    """

    @staticmethod
    def _factory(key: str) -> Callable[..., ExtractorFactory]:
        loaders = LOADER_REGISTRY.get(key)
        if not loaders:
            raise AttributeError(
                f"no loader is registered as {key!r}; known: {sorted(LOADER_REGISTRY)}"
            )

        def make(target: str, **kwargs: Any) -> ExtractorFactory:
            return ExtractorFactory(target, loaders, key, **kwargs)

        return make
