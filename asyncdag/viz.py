"""Pictures of a dataflow: DOT (graphviz) and Mermaid text, SVG and PNG through graphviz.

Each Parallelizable block is drawn as a cluster (``subgraph cluster_<expander>``) holding the
nodes that run once per item; nested blocks are nested clusters. Expanders, collectors,
inputs and config values each have their own shape; ``Collect`` edges are dashed and labelled
with the annotation that made them (``Collect``, ``CollectStream``, ``CollectAsCompleted``);
optional dependencies are dotted.

Most users call the driver's methods, which delegate here::

    dr.display_all_functions("graph.svg")               # the whole graph; format from suffix
    text = dr.display_all_functions(format="mermaid")   # text, for a README or a notebook
    dr.visualize_execution(["total"], "run.dot", inputs={"site": ...})

DOT and Mermaid text need nothing installed; SVG and PNG call graphviz's ``dot`` program
(``apt-get install graphviz``).
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from asyncdag import _viz
from asyncdag.graph._build import Graph

if TYPE_CHECKING:
    from asyncdag.driver import Driver

__all__ = ["FORMATS", "draw", "render", "to_dot", "to_mermaid"]

#: What a picture can be drawn as. ``svg`` and ``png`` need graphviz installed.
FORMATS = _viz.FORMATS

_GRAPHVIZ_KWARGS = ("graph_attr", "node_attr", "edge_attr")


def to_dot(
    source: Driver | Graph,
    final_vars: Sequence[str] | None = None,
    *,
    inputs: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    orient: str = "LR",
    hide_inputs: bool = False,
    show_legend: bool = True,
    graphviz_kwargs: Mapping[str, Mapping[str, str]] | None = None,
    bypass_validation: bool = False,
) -> str:
    """The graph as graphviz DOT text; with ``final_vars``, only what that request runs.

    :param source: a driver, or its ``graph``.
    :param final_vars: draw only the nodes a run of these outputs would execute (with
        ``inputs`` and ``overrides`` as that run would get them); overridden nodes are marked
        and what only they needed is left out. ``None`` draws every node.
    :param orient: graphviz ``rankdir``: ``"LR"`` (default), ``"TB"``, ``"RL"`` or ``"BT"``.
    :param hide_inputs: leave inputs and config values out.
    :param show_legend: add a small legend cluster of the shapes used.
    :param graphviz_kwargs: ``graph_attr`` / ``node_attr`` / ``edge_attr`` dicts of graphviz
        attributes, as in Hamilton (e.g. ``{"graph_attr": {"ratio": "1"}}``).
    :param bypass_validation: draw a request even when required inputs are missing.
    :raises MissingInputError, UnknownOutputError: for a request that could not run.
    """
    attrs = _graphviz_attrs(graphviz_kwargs)
    picture = _picture(source, final_vars, inputs, overrides, hide_inputs, bypass_validation)
    return _viz.to_dot(
        picture,
        orient=orient,
        show_legend=show_legend,
        graph_attr=attrs.get("graph_attr"),
        node_attr=attrs.get("node_attr"),
        edge_attr=attrs.get("edge_attr"),
    )


def to_mermaid(
    source: Driver | Graph,
    final_vars: Sequence[str] | None = None,
    *,
    inputs: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    orient: str = "LR",
    hide_inputs: bool = False,
    bypass_validation: bool = False,
) -> str:
    """The graph as a Mermaid flowchart; parameters as for :func:`to_dot`."""
    picture = _picture(source, final_vars, inputs, overrides, hide_inputs, bypass_validation)
    return _viz.to_mermaid(picture, orient=orient)


def render(dot_source: str, format: Literal["svg", "png"]) -> bytes:
    """Render DOT text with graphviz's ``dot`` program.

    :raises AsyncDagError: when ``dot`` is not installed (the message says how to install
        it) or when it fails.
    """
    return _viz.render(dot_source, format)


def draw(
    source: Driver | Graph,
    output_file_path: str | pathlib.Path | None = None,
    *,
    final_vars: Sequence[str] | None = None,
    format: str | None = None,
    inputs: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    orient: str = "LR",
    hide_inputs: bool = False,
    show_legend: bool = True,
    graphviz_kwargs: Mapping[str, Mapping[str, str]] | None = None,
    bypass_validation: bool = False,
) -> str | bytes:
    """Draw the graph as ``format`` and write it to ``output_file_path`` when one is given.

    ``format`` is one of :data:`FORMATS`; by default, what the file's suffix names
    (``.dot``/``.gv``, ``.mmd``, ``.svg``, ``.png``), else ``"dot"``. Returns the text (DOT,
    Mermaid or SVG) or, for PNG, the bytes. Other parameters as for :func:`to_dot`.
    """
    path = None if output_file_path is None else pathlib.Path(output_file_path)
    chosen = _viz.format_for(None if path is None else path.name, format)
    result: str | bytes
    if chosen == "mermaid":
        result = to_mermaid(
            source,
            final_vars,
            inputs=inputs,
            overrides=overrides,
            orient=orient,
            hide_inputs=hide_inputs,
            bypass_validation=bypass_validation,
        )
    else:
        result = to_dot(
            source,
            final_vars,
            inputs=inputs,
            overrides=overrides,
            orient=orient,
            hide_inputs=hide_inputs,
            show_legend=show_legend,
            graphviz_kwargs=graphviz_kwargs,
            bypass_validation=bypass_validation,
        )
        if chosen == "svg":
            result = _viz.render(result, "svg").decode()
        elif chosen == "png":
            result = _viz.render(result, "png")
    if path is not None:
        if isinstance(result, bytes):
            path.write_bytes(result)
        else:
            path.write_text(result, encoding="utf-8")
    return result


def _picture(
    source: Driver | Graph,
    final_vars: Sequence[str] | None,
    inputs: Mapping[str, Any] | None,
    overrides: Mapping[str, Any] | None,
    hide_inputs: bool,
    bypass_validation: bool,
) -> _viz.Picture:
    graph = source if isinstance(source, Graph) else source.graph
    if isinstance(final_vars, str):
        final_vars = [final_vars]
    return _viz.picture_of(
        graph,
        None if final_vars is None else list(final_vars),
        inputs=inputs,
        overrides=overrides,
        hide_inputs=hide_inputs,
        bypass_validation=bypass_validation,
    )


def _graphviz_attrs(
    graphviz_kwargs: Mapping[str, Mapping[str, str]] | None,
) -> dict[str, Mapping[str, str]]:
    given = dict(graphviz_kwargs or {})
    unknown = sorted(set(given) - set(_GRAPHVIZ_KWARGS))
    if unknown:
        raise ValueError(
            f"graphviz_kwargs keys {unknown} are not supported; asyncdag writes DOT text itself"
            f" and accepts {', '.join(_GRAPHVIZ_KWARGS)}."
        )
    return given
