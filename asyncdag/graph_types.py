"""What the driver tells about its graph: :class:`Variable` (Hamilton's ``HamiltonNode``) and
:class:`HamiltonGraph`, the shapes ``list_available_variables``, the graph queries and
Hamilton-style lifecycle hooks hand out.

Example::

    for var in dr.list_available_variables(tag_filter={"owner": ["ada", "bob"]}):
        print(var.name, var.type, var.originating_functions, var.required_dependencies)
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import textwrap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from asyncdag.graph._build import Graph
from asyncdag.graph._node import Node

__all__ = ["HamiltonGraph", "HamiltonNode", "Variable", "hash_source_code", "input_names"]


@dataclass(frozen=True)
class Variable:
    """A node or an input, with Hamilton's fields (``HamiltonNode``) plus ``role``.

    ``role`` is ``"standard"``, ``"expand"`` (a Parallelizable) or ``"collect"``; for an
    expander, ``type`` is the type of each item.
    """

    name: str
    type: Any
    tags: Mapping[str, Any] = field(default_factory=dict)
    is_external_input: bool = False
    originating_functions: tuple[Callable[..., Any], ...] | None = None
    documentation: str = ""
    required_dependencies: frozenset[str] = frozenset()
    optional_dependencies: frozenset[str] = frozenset()
    optional_dependencies_default_values: Mapping[str, Any] = field(default_factory=dict)
    role: str = "standard"

    @functools.cached_property
    def version(self) -> str | None:
        """A hash of the originating function's source, without docstring and comments
        (the input's name for an input; ``None`` when the source cannot be read)."""
        if self.is_external_input:
            return self.name
        if not self.originating_functions:
            return None
        try:
            return hash_source_code(self.originating_functions[0], strip=True)
        except (OSError, TypeError, SyntaxError):
            return None

    def as_dict(self, include_optional_dependencies_default_values: bool = False) -> dict[str, Any]:
        """A JSON-ready description (Hamilton's ``HamiltonNode.as_dict`` keys)."""
        source = None
        if self.originating_functions:
            try:
                source = inspect.getsource(self.originating_functions[0])
            except (OSError, TypeError):
                source = None
        out: dict[str, Any] = {
            "name": self.name,
            "tags": dict(self.tags),
            "output_type": _type_text(self.type),
            "required_dependencies": sorted(self.required_dependencies),
            "optional_dependencies": sorted(self.optional_dependencies),
            "source": source,
            "documentation": self.documentation,
            "version": self.version,
        }
        if include_optional_dependencies_default_values:
            out["optional_dependencies_default_values"] = dict(
                self.optional_dependencies_default_values
            )
        return out

    @classmethod
    def from_node(cls, node: Node) -> Variable:
        """The variable of a graph node."""
        origin = node.originating_function
        required = frozenset(d.name for d in node.dependencies if d.required)
        optional = frozenset(d.name for d in node.dependencies if not d.required)
        return cls(
            name=node.name,
            type=node.type,
            tags=dict(node.tags),
            is_external_input=False,
            originating_functions=(origin,) if origin is not None else None,
            documentation=node.doc,
            required_dependencies=required,
            optional_dependencies=optional,
            optional_dependencies_default_values=_defaults(origin, optional),
            role=node.role.value,
        )

    @classmethod
    def from_input(cls, graph: Graph, name: str) -> Variable:
        """The variable of an input (or a config value read as one)."""
        readers = graph.inputs.get(name, ())
        if readers:
            origin = readers[0][0].originating_function  # the first node that reads it
            return cls(
                name=name,
                type=readers[0][1].type,
                is_external_input=True,
                originating_functions=None if origin is None else (origin,),
            )
        value = graph.config.get(name)
        return cls(name=name, type=Any if value is None else type(value), is_external_input=True)


#: Hamilton's name for :class:`Variable`.
HamiltonNode = Variable


@dataclass(frozen=True)
class HamiltonGraph:
    """Every node and input of a graph as :class:`Variable` objects (Hamilton's shape)."""

    nodes: list[Variable]

    @classmethod
    def from_graph(cls, graph: Graph) -> HamiltonGraph:
        found = [Variable.from_node(graph.nodes[n]) for n in (*graph.order, *graph.blocked)]
        found += [Variable.from_input(graph, n) for n in input_names(graph)]
        return cls(found)

    def __getitem__(self, name: str) -> Variable:
        for var in self.nodes:
            if var.name == name:
                return var
        raise KeyError(name)

    def __iter__(self) -> Iterator[Variable]:
        return iter(self.nodes)

    def filter_nodes(self, filter: Callable[[Variable], bool]) -> list[Variable]:
        """The variables for which ``filter`` is true."""
        return [v for v in self.nodes if filter(v)]

    @functools.cached_property
    def version(self) -> str:
        """A hash of every node's version: changes when any function's code does."""
        digest = hashlib.sha256()
        for var in sorted(self.nodes, key=lambda v: v.name):
            digest.update(f"{var.name}:{var.version}".encode())
        return digest.hexdigest()


def input_names(graph: Graph) -> list[str]:
    """The graph's inputs, then the config keys no node reads (Hamilton lists them too)."""
    names = list(graph.inputs)
    names += [k for k in graph.config if k not in graph.inputs and k not in graph.nodes]
    return names


def hash_source_code(fn: Callable[..., Any], strip: bool = False) -> str:
    """sha256 of a function's source; with ``strip``, docstrings and comments do not count."""
    source = textwrap.dedent(inspect.getsource(inspect.unwrap(fn)))
    if strip:
        tree = ast.parse(source)
        for item in ast.walk(tree):
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                body = item.body
                if (
                    body
                    and isinstance(body[0], ast.Expr)
                    and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)
                ):
                    item.body = body[1:] or [ast.Pass()]
        source = ast.unparse(tree)
    return hashlib.sha256(source.encode()).hexdigest()


def _defaults(origin: Callable[..., Any] | None, names: frozenset[str]) -> dict[str, Any]:
    if origin is None or not names:
        return {}
    try:
        params = inspect.signature(origin).parameters
    except (TypeError, ValueError):
        return {}
    return {
        n: p.default
        for n, p in params.items()
        if n in names and p.default is not inspect.Parameter.empty
    }


def _type_text(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return repr(tp).replace("typing.", "")
