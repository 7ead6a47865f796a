"""Pictures of a dataflow: DOT (graphviz) and Mermaid text, SVG, PNG and PDF through graphviz.

Each Parallelizable block is drawn as a cluster (``subgraph cluster_<expander>``) holding the
nodes that run once per item; nested blocks are nested clusters. Expanders, collectors,
inputs and config values each have their own shape; ``Collect`` edges are dashed and labelled
with the annotation that made them (``Collect``, ``CollectStream``, ``CollectAsCompleted``);
optional dependencies are dotted.

Most users call the driver's methods, which delegate here, with Hamilton's parameters::

    dot = dr.display_all_functions()                      # a Drawing: DOT text, graphviz-like
    dot.render("graph", format="svg")                    # graph (DOT) and graph.svg
    dr.display_all_functions("graph.png")                 # written as PNG (from the suffix)
    dr.visualize_execution(["total"], "./run", {"format": "svg"}, inputs={"site": ...})
    text = dr.display_all_functions(format="mermaid")    # Mermaid, for a README

A :class:`Drawing` is the DOT text (a ``str``) with the parts of ``graphviz.Digraph`` that
Hamilton code uses: ``source``, ``render``, ``pipe``, ``save``, ``view`` and inline display in
Jupyter (SVG when graphviz's ``dot`` program is installed, else a Mermaid diagram, which
JupyterLab and GitHub draw, with the DOT text as plain text). ``to_graphviz()`` gives a real
``graphviz.Digraph`` (``pip install 'asyncdag[viz]'``) to edit further.

DOT and Mermaid text need nothing installed; SVG, PNG and the other image formats call
graphviz's ``dot`` program (``apt-get install graphviz``).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from asyncdag import _viz
from asyncdag.errors import VisualizationError
from asyncdag.graph._build import Graph
from asyncdag.graph_types import Variable

__all__ = ["FORMATS", "Drawing", "HasGraph", "draw", "render", "to_dot", "to_mermaid"]

#: The formats ``format=`` names. ``svg`` and ``png`` need graphviz installed.
FORMATS = _viz.FORMATS

_GRAPHVIZ_KWARGS = ("graph_attr", "node_attr", "edge_attr")


class HasGraph(Protocol):
    """A driver, or anything else that holds a built graph."""

    graph: Graph


Source = Graph | HasGraph


def _graph_of(source: Source) -> Graph:
    return source if isinstance(source, Graph) else source.graph


class Drawing(str):
    """A picture's DOT text that behaves like the ``graphviz.Digraph`` Hamilton returns.

    It is the DOT source itself (a ``str``); ``mermaid`` holds the same picture as Mermaid.
    """

    mermaid: str
    #: the format ``pipe`` and ``render`` use by default, as on ``graphviz.Digraph``
    format: str  # type: ignore[assignment]
    engine: str

    def __new__(cls, dot: str, mermaid: str, format: str = "png") -> Drawing:
        drawing = super().__new__(cls, dot)
        drawing.mermaid = mermaid
        drawing.format = format
        drawing.engine = "dot"
        return drawing

    def __reduce__(self) -> Any:
        return (Drawing, (str(self), self.mermaid, self.format))

    @property
    def source(self) -> str:
        """The DOT text."""
        return str(self)

    def pipe(self, format: str | None = None, encoding: str | None = None) -> Any:
        """The picture rendered as ``format`` (default: ``self.format``): bytes, or text when
        ``encoding`` is given."""
        data = render(self.source, format or self.format)
        return data.decode(encoding) if encoding else data

    def save(
        self, filename: str | os.PathLike[str] | None = None, directory: str | None = None
    ) -> str:
        """Write the DOT text to ``filename`` (default ``asyncdag.gv``); returns the path."""
        path = pathlib.Path(directory or ".") / (filename or "asyncdag.gv")
        path.write_text(self.source, encoding="utf-8")
        return str(path)

    def render(
        self,
        filename: str | os.PathLike[str] | None = None,
        directory: str | None = None,
        view: bool = False,
        cleanup: bool = False,
        format: str | None = None,
        outfile: str | os.PathLike[str] | None = None,
        **ignored: Any,
    ) -> str:
        """Save the DOT text to ``filename`` and render it next to it as
        ``filename.<format>`` (or to ``outfile``), as ``graphviz`` does; returns the rendered
        file's path. ``cleanup`` removes the DOT file afterwards; ``view`` opens the result."""
        fmt = format or (
            pathlib.Path(outfile).suffix.lstrip(".") if outfile is not None else self.format
        )
        dot_path = pathlib.Path(self.save(filename, directory))
        target = (
            pathlib.Path(outfile)
            if outfile is not None
            else dot_path.with_name(f"{dot_path.name}.{fmt}")
        )
        target.write_bytes(self.pipe(fmt))
        if cleanup:
            dot_path.unlink()
        if view:
            _view(target)
        return str(target)

    def view(self, filename: str | None = None, directory: str | None = None) -> str:
        """Render to a temporary file and open it with the system's viewer."""
        where = directory or tempfile.mkdtemp(prefix="asyncdag-")
        return self.render(filename or "asyncdag.gv", where, view=True)

    def to_graphviz(self) -> Any:
        """The picture as a real ``graphviz.Digraph`` (needs the ``graphviz`` package)."""
        try:
            import graphviz
        except ImportError as exc:
            raise VisualizationError(
                "to_graphviz() needs the graphviz package: pip install 'asyncdag[viz]'"
            ) from exc
        lines = self.source.strip().splitlines()
        body = [line.strip() + "\n" for line in lines[1:-1]]
        return graphviz.Digraph(name="asyncdag", body=["\t" + b for b in body])

    def _repr_svg_(self) -> str | None:
        if not _viz.has_dot():
            return None
        return render(self.source, "svg").decode()

    def _repr_mimebundle_(
        self,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """What Jupyter shows: SVG with graphviz's ``dot``, else a Mermaid diagram."""
        bundle: dict[str, Any] = {"text/plain": self.source}
        svg = self._repr_svg_()
        if svg is not None:
            bundle["image/svg+xml"] = svg
        else:
            bundle["text/vnd.mermaid"] = self.mermaid
            bundle["text/markdown"] = f"```mermaid\n{self.mermaid}```\n"
        if include is not None:
            bundle = {k: v for k, v in bundle.items() if k in set(include)}
        if exclude is not None:
            bundle = {k: v for k, v in bundle.items() if k not in set(exclude)}
        return bundle


def _view(path: pathlib.Path) -> None:  # pragma: no cover - opens a window
    opener = "open" if os.uname().sysname == "Darwin" else "xdg-open"
    subprocess.Popen([opener, str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def to_dot(
    source: Source,
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
    picture = _picture(source, final_vars, inputs, overrides, hide_inputs, bypass_validation)
    return _dot(picture, orient, show_legend, graphviz_kwargs)


def _dot(
    picture: _viz.Picture,
    orient: str,
    show_legend: bool,
    graphviz_kwargs: Mapping[str, Mapping[str, str]] | None,
    node_styles: Mapping[str, Mapping[str, str]] | None = None,
) -> str:
    attrs = _graphviz_attrs(graphviz_kwargs)
    return _viz.to_dot(
        picture,
        orient=orient,
        show_legend=show_legend,
        graph_attr=attrs.get("graph_attr"),
        node_attr=attrs.get("node_attr"),
        edge_attr=attrs.get("edge_attr"),
        node_styles=node_styles,
    )


def to_mermaid(
    source: Source,
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


def render(dot_source: str, format: str) -> bytes:
    """Render DOT text with graphviz's ``dot`` program (``svg``, ``png``, ``pdf`` ...).

    :raises VisualizationError: when ``dot`` is not installed (the message says how to
        install it) or when it fails.
    """
    return _viz.render(dot_source, format)


def draw(
    source: Source,
    output_file_path: str | os.PathLike[str] | None = None,
    render_kwargs: Mapping[str, Any] | None = None,
    *,
    final_vars: Sequence[str] | None = None,
    nodes: Iterable[str] | None = None,
    highlight: Iterable[str] = (),
    format: str | None = None,
    inputs: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    orient: str = "LR",
    hide_inputs: bool = False,
    show_legend: bool = True,
    graphviz_kwargs: Mapping[str, Mapping[str, str]] | None = None,
    bypass_validation: bool = False,
    keep_dot: bool = False,
    custom_style_function: Callable[..., Any] | None = None,
    notes: Mapping[str, str] | None = None,
) -> Any:
    """Draw the graph (every node; a request's with ``final_vars``; or the ``nodes`` given,
    with ``highlight`` ones drawn bold) and write it to ``output_file_path`` when given.

    What is returned and written:

    - ``format=`` given (asyncdag's way): that format's content — DOT or Mermaid text, SVG
      text, PNG bytes — also written to the file when a path is given;
    - otherwise (Hamilton's way): a :class:`Drawing`. The file's format comes from
      ``render_kwargs["format"]``, else its suffix (``.dot``/``.gv`` DOT text, ``.mmd``
      Mermaid, anything else rendered by graphviz), else PNG at ``<path>.png`` as Hamilton
      does; ``keep_dot`` also writes the DOT text at the path without its suffix. A path
      ending in ``.mmd`` returns the Mermaid text.

    ``custom_style_function(node=Variable, node_class=str)`` returns ``(attributes,
    node_class, legend_name)`` per node, as in Hamilton; its attributes are added to the node.
    ``notes`` adds a last line to the label of the nodes it names (``dr.cache.view_run``
    says there what the cache did), in DOT and Mermaid alike.
    """
    graph = _graph_of(source)
    if nodes is not None:
        picture = _viz.picture_of_nodes(
            graph, list(nodes), highlight=set(highlight), hide_inputs=hide_inputs
        )
    else:
        picture = _picture(graph, final_vars, inputs, overrides, hide_inputs, bypass_validation)
    for name, note in (notes or {}).items():
        item = picture.items.get(name)
        if item is not None:
            picture.items[name] = dataclasses.replace(item, lines=(*item.lines, note))
    styles = _custom_styles(graph, picture, custom_style_function)
    path = None if output_file_path is None else pathlib.Path(output_file_path)
    options = dict(render_kwargs or {})
    if format is not None or (path is not None and path.suffix.lower() in (".mmd", ".mermaid")):
        chosen = _viz.format_for(None if path is None else path.name, format)
        result: str | bytes
        if chosen == "mermaid":
            result = _viz.to_mermaid(picture, orient=orient)
        else:
            result = _dot(picture, orient, show_legend, graphviz_kwargs, styles)
            if chosen in ("svg", "png"):
                rendered = _viz.render(result, chosen)
                result = rendered.decode() if chosen == "svg" else rendered
        if path is not None:
            if isinstance(result, bytes):
                path.write_bytes(result)
            else:
                path.write_text(result, encoding="utf-8")
        return result
    drawing = Drawing(
        _dot(picture, orient, show_legend, graphviz_kwargs, styles),
        _viz.to_mermaid(picture, orient=orient),
        format=str(options.get("format", "png")),
    )
    if path is not None:
        _write_like_hamilton(drawing, path, options, keep_dot)
    return drawing


def _write_like_hamilton(
    drawing: Drawing, path: pathlib.Path, options: Mapping[str, Any], keep_dot: bool
) -> None:
    suffix = path.suffix.lower().lstrip(".")
    fmt = options.get("format") or suffix or "png"
    stem = path.with_suffix("") if suffix else path
    if keep_dot:
        stem.write_text(drawing.source, encoding="utf-8")
    if fmt in ("dot", "gv") and "format" not in options:
        path.write_text(drawing.source, encoding="utf-8")
        return
    target = stem.with_name(f"{stem.name}.{fmt}")
    target.write_bytes(drawing.pipe(fmt))
    if options.get("view"):
        _view(target)


def _custom_styles(
    graph: Graph, picture: _viz.Picture, style: Callable[..., Any] | None
) -> dict[str, dict[str, str]] | None:
    if style is None:
        return None
    out: dict[str, dict[str, str]] = {}
    for name, item in picture.items.items():
        node = graph.nodes.get(name)
        var = Variable.from_node(node) if node is not None else Variable.from_input(graph, name)
        made = style(node=var, node_class=item.kind)
        attrs = made[0] if isinstance(made, tuple) else made
        if attrs:
            out[name] = {str(k): str(v) for k, v in dict(attrs).items()}
    return out


def _picture(
    source: Source,
    final_vars: Sequence[str] | None,
    inputs: Mapping[str, Any] | None,
    overrides: Mapping[str, Any] | None,
    hide_inputs: bool,
    bypass_validation: bool,
) -> _viz.Picture:
    graph = _graph_of(source)
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
