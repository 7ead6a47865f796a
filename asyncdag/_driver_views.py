"""What a driver tells and draws about its graph, with Hamilton's method names.

:class:`GraphViews` is the half of :class:`asyncdag.driver.Driver` that reads the graph and
never runs it: ``list_available_variables``, the graph queries (``what_is_downstream_of`` ...),
``has_cycles`` and the pictures (``display_all_functions``,
``visualize_execution`` ... with Hamilton's parameter order).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from asyncdag import _driver_surface as _surface
from asyncdag import viz
from asyncdag.errors import ExecutionRequestError
from asyncdag.graph import _query
from asyncdag.graph._build import Graph
from asyncdag.graph._cycles import has_cycles as _has_cycles
from asyncdag.graph_types import Variable

__all__ = ["GraphViews"]


class GraphViews:
    """Reading and drawing a driver's graph; mixed into ``Driver``."""

    graph: Graph

    def _repr_mimebundle_(
        self,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """In Jupyter, a driver shows as the picture of its graph."""
        drawing: viz.Drawing = self.display_all_functions()
        return drawing._repr_mimebundle_(include=include, exclude=exclude)

    def list_available_variables(
        self, tag_filter: Mapping[str, Any] | None = None
    ) -> list[Variable]:
        """Every node and input as a :class:`Variable` (Hamilton's fields: ``name``, ``type``,
        ``tags``, ``is_external_input``, ``originating_functions``, ``documentation``,
        ``required_dependencies`` ...), optionally only those whose tags match ``tag_filter``.

        A filter value is a string, a list of strings (any of them matches; a node's tag may
        itself be a list), or ``None`` (the node has the tag at all); all keys must match.
        Anything else raises ``ExecutionRequestError``.

        Example::

            dr.list_available_variables(tag_filter={"owner": ["ada", "bob"], "pii": None})
        """
        return _surface.list_variables(self.graph, tag_filter)

    # -- graph queries ---------------------------------------------------------------------

    def _variables(self, names: Iterable[str]) -> list[Variable]:
        return [
            Variable.from_node(self.graph.nodes[n])
            if n in self.graph.nodes
            else Variable.from_input(self.graph, n)
            for n in names
        ]

    def what_is_downstream_of(self, *node_names: str) -> list[Variable]:
        """The named nodes (or inputs) and every node that depends on them."""
        return self._variables(_query.downstream_of(self.graph, node_names))

    def what_is_upstream_of(self, *node_names: str) -> list[Variable]:
        """The named nodes and every node and input they depend on."""
        nodes, inputs = _query.upstream_of(self.graph, node_names)
        return self._variables([*nodes, *inputs])

    def what_is_the_path_between(
        self, upstream_node_name: str, downstream_node_name: str
    ) -> list[Variable]:
        """The nodes on the paths from one node to another, both included (``[]`` when
        ``downstream_node_name`` does not depend on ``upstream_node_name``)."""
        return self._variables(
            _query.path_between(self.graph, upstream_node_name, downstream_node_name)
        )

    def has_cycles(self, final_vars: Iterable[Any] | None = None) -> bool:
        """Whether the nodes ``final_vars`` need (every node, without it) form a cycle."""
        names = None if final_vars is None else _surface.output_names(self.graph, final_vars)
        return _has_cycles(self.graph, names)

    # -- pictures --------------------------------------------------------------------------

    def display_all_functions(
        self,
        output_file_path: str | os.PathLike[str] | None = None,
        render_kwargs: Mapping[str, Any] | None = None,
        graphviz_kwargs: Mapping[str, Mapping[str, str]] | None = None,
        show_legend: bool = True,
        orient: str = "LR",
        hide_inputs: bool = False,
        deduplicate_inputs: bool = False,
        show_schema: bool = True,
        custom_style_function: Callable[..., Any] | None = None,
        keep_dot: bool = False,
        *,
        format: str | None = None,
    ) -> Any:
        """Draw every node, each Parallelizable block as a cluster; see :func:`asyncdag.viz.draw`.

        Returns a :class:`~asyncdag.viz.Drawing` (DOT text that behaves like the
        ``graphviz.Digraph`` Hamilton returns, and shows inline in Jupyter), or with
        ``format=`` that format's text or bytes. Each input is drawn once
        (``deduplicate_inputs`` has nothing to do); schemas are not drawn (``show_schema``).
        """
        return viz.draw(
            self.graph,
            output_file_path,
            render_kwargs,
            format=format,
            orient=orient,
            hide_inputs=hide_inputs,
            show_legend=show_legend,
            graphviz_kwargs=graphviz_kwargs,
            keep_dot=keep_dot,
            custom_style_function=custom_style_function,
        )

    def visualize_execution(
        self,
        final_vars: Iterable[Any],
        output_file_path: str | os.PathLike[str] | None = None,
        render_kwargs: Mapping[str, Any] | None = None,
        inputs: Mapping[str, Any] | None = None,
        graphviz_kwargs: Mapping[str, Mapping[str, str]] | None = None,
        overrides: Mapping[str, Any] | None = None,
        show_legend: bool = True,
        orient: str = "LR",
        hide_inputs: bool = False,
        deduplicate_inputs: bool = False,
        show_schema: bool = True,
        custom_style_function: Callable[..., Any] | None = None,
        bypass_validation: bool = False,
        keep_dot: bool = False,
        *,
        format: str | None = None,
    ) -> Any:
        """Draw only the nodes a run of ``final_vars`` would execute; overrides are marked.

        Hamilton's parameter order. Raises what the run would raise for missing inputs or
        unknown outputs, unless ``bypass_validation``. Returns as
        :meth:`display_all_functions` does.
        """
        return viz.draw(
            self.graph,
            output_file_path,
            render_kwargs,
            final_vars=_surface.output_names(self.graph, final_vars),
            format=format,
            inputs=inputs,
            overrides=overrides,
            orient=orient,
            hide_inputs=hide_inputs,
            show_legend=show_legend,
            graphviz_kwargs=graphviz_kwargs,
            bypass_validation=bypass_validation,
            keep_dot=keep_dot,
            custom_style_function=custom_style_function,
        )

    def _display_nodes(
        self,
        names: Iterable[str],
        highlight: Iterable[str],
        output_file_path: str | os.PathLike[str] | None,
        render_kwargs: Mapping[str, Any] | None,
        graphviz_kwargs: Mapping[str, Mapping[str, str]] | None,
        show_legend: bool,
        orient: str,
        hide_inputs: bool,
        custom_style_function: Callable[..., Any] | None,
        keep_dot: bool,
        format: str | None,
    ) -> Any:
        return viz.draw(
            self.graph,
            output_file_path,
            render_kwargs,
            nodes=names,
            highlight=highlight,
            format=format,
            orient=orient,
            hide_inputs=hide_inputs,
            show_legend=show_legend,
            graphviz_kwargs=graphviz_kwargs,
            keep_dot=keep_dot,
            custom_style_function=custom_style_function,
        )

    def _with_parents(self, names: Iterable[str]) -> set[str]:
        shown = set(names)
        for name in list(shown):
            node = self.graph.nodes.get(name)
            if node is not None:
                shown.update(node.dependency_names)
        return shown

    def display_downstream_of(
        self,
        *node_names: str,
        output_file_path: str | os.PathLike[str] | None = None,
        render_kwargs: Mapping[str, Any] | None = None,
        graphviz_kwargs: Mapping[str, Mapping[str, str]] | None = None,
        show_legend: bool = True,
        orient: str = "LR",
        hide_inputs: bool = False,
        deduplicate_inputs: bool = False,
        show_schema: bool = True,
        custom_style_function: Callable[..., Any] | None = None,
        keep_dot: bool = False,
        format: str | None = None,
    ) -> Any:
        """Draw what depends on ``node_names`` (with each drawn node's direct parents)."""
        below = _query.downstream_of(self.graph, node_names)
        return self._display_nodes(
            self._with_parents(below),
            node_names,
            output_file_path,
            render_kwargs,
            graphviz_kwargs,
            show_legend,
            orient,
            hide_inputs,
            custom_style_function,
            keep_dot,
            format,
        )

    def display_upstream_of(
        self,
        *node_names: str,
        output_file_path: str | os.PathLike[str] | None = None,
        render_kwargs: Mapping[str, Any] | None = None,
        graphviz_kwargs: Mapping[str, Mapping[str, str]] | None = None,
        show_legend: bool = True,
        orient: str = "LR",
        hide_inputs: bool = False,
        deduplicate_inputs: bool = False,
        show_schema: bool = True,
        custom_style_function: Callable[..., Any] | None = None,
        keep_dot: bool = False,
        format: str | None = None,
    ) -> Any:
        """Draw what ``node_names`` depend on, inputs included."""
        nodes, inputs = _query.upstream_of(self.graph, node_names)
        return self._display_nodes(
            [*nodes, *inputs],
            node_names,
            output_file_path,
            render_kwargs,
            graphviz_kwargs,
            show_legend,
            orient,
            hide_inputs,
            custom_style_function,
            keep_dot,
            format,
        )

    def visualize_path_between(
        self,
        upstream_node_name: str,
        downstream_node_name: str,
        output_file_path: str | os.PathLike[str] | None = None,
        render_kwargs: Mapping[str, Any] | None = None,
        graphviz_kwargs: Mapping[str, Mapping[str, str]] | None = None,
        strict_path_visualization: bool = False,
        show_legend: bool = True,
        orient: str = "LR",
        hide_inputs: bool = False,
        deduplicate_inputs: bool = False,
        show_schema: bool = True,
        custom_style_function: Callable[..., Any] | None = None,
        keep_dot: bool = False,
        *,
        format: str | None = None,
    ) -> Any:
        """Draw the paths between two nodes, highlighted, with the path nodes' parents unless
        ``strict_path_visualization``. Raises ``UnknownOutputError`` for an unknown name and
        ``ExecutionRequestError`` when there is no path."""
        path = _query.path_between(self.graph, upstream_node_name, downstream_node_name)
        if not path:
            raise ExecutionRequestError(
                f"no path from {upstream_node_name!r} to {downstream_node_name!r}:"
                f" {downstream_node_name!r} does not depend on {upstream_node_name!r}"
            )
        shown = set(path) if strict_path_visualization else self._with_parents(path)
        return self._display_nodes(
            shown,
            path,
            output_file_path,
            render_kwargs,
            graphviz_kwargs,
            show_legend,
            orient,
            hide_inputs,
            custom_style_function,
            keep_dot,
            format,
        )
