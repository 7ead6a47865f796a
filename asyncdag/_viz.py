"""Drawing a graph: what to draw (a ``Picture``), then DOT or Mermaid text, then graphviz.

A picture is computed from the graph alone (``display_all_functions``) or from the nodes one
request would run (``visualize_execution``, through the same planner the engine uses). Each
Parallelizable block becomes a cluster holding the nodes that run once per item; a block
nested in another is a cluster inside that cluster. The expander itself sits just outside its
block, where it runs, so the arrows into the cluster read "for each item".
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from asyncdag.errors import VisualizationError
from asyncdag.graph._build import Graph, Scope, scopes_of
from asyncdag.graph._cycles import for_request
from asyncdag.graph._node import DepKind, Node, Role
from asyncdag.graph._select import select
from asyncdag.graph._types import describe

__all__ = [
    "FORMATS",
    "Edge",
    "Item",
    "Picture",
    "format_for",
    "has_dot",
    "picture_of",
    "picture_of_nodes",
    "render",
    "to_dot",
    "to_mermaid",
]

FORMATS = ("dot", "mermaid", "svg", "png")
# a file's suffix -> the format written to it when none is named
_SUFFIXES = {
    "dot": "dot",
    "gv": "dot",
    "mmd": "mermaid",
    "mermaid": "mermaid",
    "svg": "svg",
    "png": "png",
}

# what a collecting edge is called on the picture: the parameter annotation the user wrote
_EDGE_LABELS = {
    DepKind.COLLECT: "Collect",
    DepKind.STREAM: "CollectStream",
    DepKind.STREAM_UNORDERED: "CollectAsCompleted",
}


@dataclass(frozen=True)
class Item:
    """One box on the picture: a node, an input or a config value."""

    name: str
    kind: str  # "node" | "expander" | "collector" | "input" | "config"
    lines: tuple[str, ...]  # the label, one entry per line, the name first
    scope: Scope = ()
    overridden: bool = False
    output: bool = False
    highlighted: bool = False


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: DepKind = DepKind.VALUE
    required: bool = True


@dataclass
class Picture:
    items: dict[str, Item] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def blocks(self) -> list[Scope]:
        """Every block that holds something, parents before children."""
        found: set[Scope] = set()
        for item in self.items.values():
            for depth in range(1, len(item.scope) + 1):
                found.add(item.scope[:depth])
        return sorted(found, key=lambda s: (len(s), s))


def format_for(path: str | None, format: str | None) -> str:
    """The format asked for, or the one the file's suffix names; DOT by default."""
    if format is None:
        suffix = path.rsplit(".", 1)[-1].lower() if path and "." in path else ""
        return _SUFFIXES.get(suffix, "dot")
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    return format


def picture_of(
    graph: Graph,
    final_vars: Sequence[str] | None = None,
    *,
    inputs: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    hide_inputs: bool = False,
    bypass_validation: bool = False,
) -> Picture:
    """What to draw: the whole graph, or (with ``final_vars``) what that request would run.

    A request is planned exactly as a run would be, so a missing input or an unknown output
    raises the same error, unless ``bypass_validation`` is set (then missing inputs are drawn
    as inputs).
    """
    if final_vars is None:
        names: Iterable[str] = (*graph.order, *graph.blocked)
        scopes: Mapping[str, Scope] = graph.scopes
        overridden: frozenset[str] = frozenset()
        shown_inputs: set[str] = set(graph.inputs)
        outputs: frozenset[str] = frozenset()
    else:
        provided = frozenset(graph.config) | frozenset(inputs or ()) | frozenset(overrides or ())
        plan_provided = provided | frozenset(graph.inputs) if bypass_validation else provided
        plan = select(
            for_request(graph, final_vars, plan_provided), tuple(final_vars), plan_provided
        )
        names = plan.order
        overridden = plan_provided & frozenset(plan.order)
        scopes = scopes_of(graph.nodes, plan.order, plan_provided)
        outputs = frozenset(final_vars)
        shown_inputs = {o for o in final_vars if o not in graph.nodes}
        for name in plan.order:
            if name not in overridden:
                shown_inputs.update(
                    d.name
                    for d in graph.nodes[name].dependencies
                    if d.name not in graph.nodes and d.name in plan_provided
                )

    picture = Picture()
    if not hide_inputs:
        for name in sorted(shown_inputs):
            readers = graph.inputs.get(name, ())
            kind = "config" if name in graph.config else "input"
            type_line = (describe(readers[0][1].type),) if readers else ()
            picture.items[name] = Item(name, kind, (name, *type_line), output=name in outputs)
    for name in names:
        node = graph.nodes[name]
        picture.items[name] = _item_for(
            node, scopes.get(name, ()), overridden=name in overridden, output=name in outputs
        )
    for name in names:
        if name in overridden:
            continue  # a given value: nothing upstream of it runs for it
        for dep in graph.nodes[name].dependencies:
            if dep.name in picture.items:
                picture.edges.append(Edge(dep.name, name, dep.kind, dep.required))
    return picture


def picture_of_nodes(
    graph: Graph,
    names: Sequence[str],
    *,
    highlight: set[str] | frozenset[str] = frozenset(),
    hide_inputs: bool = False,
) -> Picture:
    """A picture of the given nodes and inputs (``highlight`` ones drawn bold), with the
    edges among them."""
    wanted = set(names)
    picture = Picture()
    if not hide_inputs:
        for name in graph.inputs:
            if name in wanted:
                readers = graph.inputs[name]
                kind = "config" if name in graph.config else "input"
                type_line = (describe(readers[0][1].type),) if readers else ()
                picture.items[name] = Item(
                    name, kind, (name, *type_line), highlighted=name in highlight
                )
    for name in (*graph.order, *graph.blocked):
        if name in wanted:
            item = _item_for(
                graph.nodes[name], graph.scopes.get(name, ()), overridden=False, output=False
            )
            if name in highlight:
                item = Item(item.name, item.kind, item.lines, item.scope, highlighted=True)
            picture.items[name] = item
    for name in (*graph.order, *graph.blocked):
        if name not in picture.items:
            continue
        for dep in graph.nodes[name].dependencies:
            if dep.name in picture.items:
                picture.edges.append(Edge(dep.name, name, dep.kind, dep.required))
    return picture


def _item_for(node: Node, scope: Scope, *, overridden: bool, output: bool) -> Item:
    type_text = "None" if node.type in (None, type(None)) else describe(node.type)
    if node.role is Role.EXPAND:
        kind = "expander"
        type_text = f"Parallelizable[{type_text}]"
    elif node.role is Role.COLLECT:
        kind = "collector"
    else:
        kind = "node"
    if node.is_async:
        type_text = f"async {type_text}"
    lines = [node.name, type_text]
    if any(d.kind in (DepKind.STREAM, DepKind.STREAM_UNORDERED) for d in node.dependencies):
        lines.append("streaming collector")
    if overridden:
        lines.append("overridden")
    return Item(node.name, kind, tuple(lines), scope, overridden, output)


# -- DOT ----------------------------------------------------------------------------------

_DOT_STYLES = {
    "node": 'shape=box, style="rounded"',
    "expander": 'shape=cds, style="filled", fillcolor="#dbe9ff", margin="0.3,0.06"',
    "collector": 'shape=invhouse, style="filled", fillcolor="#e3f4e1"',
    "input": 'shape=box, style="dashed"',
    "config": 'shape=note, style="filled", fillcolor="#f1f1f1"',
}
_CLUSTER_FILLS = ("#f4f8ff", "#e9f1ff", "#deeaff", "#d3e3ff")
_LEGEND = {
    "node": "function",
    "expander": "expander (Parallelizable)",
    "collector": "collector (Collect)",
    "input": "input",
    "config": "config",
}


def _q(text: str) -> str:
    """A DOT double-quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(
    picture: Picture,
    *,
    orient: str = "LR",
    show_legend: bool = True,
    graph_attr: Mapping[str, str] | None = None,
    node_attr: Mapping[str, str] | None = None,
    edge_attr: Mapping[str, str] | None = None,
    node_styles: Mapping[str, Mapping[str, str]] | None = None,
) -> str:
    """The picture as graphviz DOT text; ``node_styles`` adds attributes to named nodes."""
    styles = node_styles or {}
    out = ["digraph asyncdag {"]
    attrs = {"rankdir": orient, "fontname": "Helvetica", **(graph_attr or {})}
    out.append(f"  graph [{_attrs(attrs)}];")
    out.append(f"  node [{_attrs({'fontname': 'Helvetica', **(node_attr or {})})}];")
    out.append(f"  edge [{_attrs({'fontname': 'Helvetica', **(edge_attr or {})})}];")
    by_scope: dict[Scope, list[Item]] = {}
    for item in picture.items.values():
        by_scope.setdefault(item.scope, []).append(item)
    children: dict[Scope, list[Scope]] = {}
    for block in picture.blocks():
        children.setdefault(block[:-1], []).append(block)

    def emit(scope: Scope, indent: str) -> None:
        for item in by_scope.get(scope, ()):
            out.append(f"{indent}{_dot_node(item, styles.get(item.name))}")
        for child in children.get(scope, ()):
            fill = _CLUSTER_FILLS[min(len(child), len(_CLUSTER_FILLS)) - 1]
            out.append(f"{indent}subgraph {_q('cluster_' + child[-1])} {{")
            label = f"per item of {child[-1]}"
            out.append(
                f"{indent}  graph [{_attrs({'label': label, 'style': 'rounded,filled'})},"
                f" fillcolor={_q(fill)}, color={_q('#7a9cc6')}];"
            )
            emit(child, indent + "  ")
            out.append(f"{indent}}}")

    emit((), "  ")
    for edge in picture.edges:
        extra: dict[str, str] = {}
        if edge.kind is not DepKind.VALUE:
            extra = {"style": "dashed", "label": _EDGE_LABELS[edge.kind]}
        elif not edge.required:
            extra = {"style": "dotted", "label": "optional"}
        suffix = f" [{_attrs(extra)}]" if extra else ""
        out.append(f"  {_q(edge.source)} -> {_q(edge.target)}{suffix};")
    if show_legend and picture.items:
        kinds = [k for k in _LEGEND if any(i.kind == k for i in picture.items.values())]
        out.append(f"  subgraph {_q('cluster__legend')} {{")
        out.append(f"    graph [{_attrs({'label': 'legend', 'style': 'dashed'})}];")
        for kind in kinds:
            out.append(
                f"    {_q('_legend_' + kind)} [label={_q(_LEGEND[kind])}, {_DOT_STYLES[kind]}];"
            )
        if any(i.overridden for i in picture.items.values()):
            out.append(
                f"    {_q('_legend_overridden')} [label={_q('overridden')}, {_overridden_style()}];"
            )
        out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"


def _attrs(values: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={_q(str(v))}" for k, v in values.items())


def _overridden_style() -> str:
    return 'shape=box, style="rounded,filled,bold", fillcolor="#ffe3b3", color="#d9822b"'


def _dot_node(item: Item, more: Mapping[str, str] | None = None) -> str:
    style = _overridden_style() if item.overridden else _DOT_STYLES[item.kind]
    extra = ", penwidth=2.5" if item.output else ""
    if item.highlighted:
        extra += ', penwidth=2.5, color="#d9822b"'
    if more:
        extra += ", " + _attrs(more)
    label = _q("\n".join(item.lines))
    return f"{_q(item.name)} [label={label}, {style}, class={_q(item.kind)}{extra}];"


# -- Mermaid ------------------------------------------------------------------------------

_MERMAID_SHAPES = {
    "node": ('("', '")'),
    "expander": ('[/"', '"/]'),
    "collector": ('[\\"', '"/]'),
    "input": ('>"', '"]'),
    "config": ('[("', '")]'),
}
_MERMAID_CLASSES = {
    "expander": "fill:#dbe9ff",
    "collector": "fill:#e3f4e1",
    "input": "stroke-dasharray: 4 3",
    "config": "fill:#f1f1f1",
    "overridden": "fill:#ffe3b3,stroke:#d9822b,stroke-width:2px",
    "output": "stroke-width:3px",
    "highlighted": "stroke:#d9822b,stroke-width:3px",
}
_MERMAID_RESERVED = {"end", "graph", "subgraph", "flowchart", "style", "class", "classdef"}
_MERMAID_RESERVED |= {"click", "linkstyle", "direction", "default"}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def to_mermaid(picture: Picture, *, orient: str = "LR") -> str:
    """The picture as a Mermaid flowchart (renders in GitHub and GitLab markdown).

    Shapes and classes stand in for the DOT legend."""
    ids: dict[str, str] = {}
    for name in picture.items:
        ident = name if _IDENT.match(name) else re.sub(r"\W", "_", name) or "node"
        if ident.lower() in _MERMAID_RESERVED or ident[0].isdigit():
            ident = f"n_{ident}"
        while ident in ids.values():
            ident += "_"
        ids[name] = ident

    out = [f"flowchart {orient}"]
    by_scope: dict[Scope, list[Item]] = {}
    for item in picture.items.values():
        by_scope.setdefault(item.scope, []).append(item)
    children: dict[Scope, list[Scope]] = {}
    for block in picture.blocks():
        children.setdefault(block[:-1], []).append(block)

    def emit(scope: Scope, indent: str) -> None:
        for item in by_scope.get(scope, ()):
            opening, closing = _MERMAID_SHAPES[item.kind]
            label = "<br/>".join(_mermaid_text(line) for line in item.lines)
            out.append(f"{indent}{ids[item.name]}{opening}{label}{closing}")
        for child in children.get(scope, ()):
            cluster = "cluster_" + re.sub(r"\W", "_", child[-1])
            out.append(f'{indent}subgraph {cluster} ["per item of {_mermaid_text(child[-1])}"]')
            emit(child, indent + "  ")
            out.append(f"{indent}end")

    emit((), "  ")
    for edge in picture.edges:
        source, target = ids[edge.source], ids[edge.target]
        if edge.kind is not DepKind.VALUE:
            out.append(f"  {source} -. {_EDGE_LABELS[edge.kind]} .-> {target}")
        elif not edge.required:
            out.append(f"  {source} -. optional .-> {target}")
        else:
            out.append(f"  {source} --> {target}")
    used: dict[str, list[str]] = {}
    for item in picture.items.values():
        if item.kind in _MERMAID_CLASSES:
            used.setdefault(item.kind, []).append(ids[item.name])
        if item.overridden:
            used.setdefault("overridden", []).append(ids[item.name])
        if item.output:
            used.setdefault("output", []).append(ids[item.name])
        if item.highlighted:
            used.setdefault("highlighted", []).append(ids[item.name])
    for cls, members in used.items():
        out.append(f"  classDef {cls} {_MERMAID_CLASSES[cls]}")
        out.append(f"  class {','.join(members)} {cls}")
    return "\n".join(out) + "\n"


def _mermaid_text(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace('"', "#quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


# -- graphviz -------------------------------------------------------------------------------


def has_dot() -> bool:
    """Whether graphviz's ``dot`` program is on PATH."""
    return shutil.which("dot") is not None


def render(dot_source: str, format: str) -> bytes:
    """Render DOT text with graphviz's ``dot`` program (``svg``, ``png``, ``pdf`` ...)."""
    if not re.fullmatch(r"[a-z0-9_:]+", format or ""):
        raise ValueError(f"{format!r} is not a graphviz output format (e.g. svg, png, pdf)")
    dot = shutil.which("dot")
    if dot is None:
        raise VisualizationError(
            f"drawing {format.upper()} needs graphviz's `dot` program, which is not on PATH."
            " Install graphviz (`apt-get install graphviz`, `brew install graphviz`, or"
            " https://graphviz.org/download/), or ask for format='dot' or 'mermaid' text."
        )
    done = subprocess.run(
        [dot, f"-T{format}"], input=dot_source.encode(), capture_output=True, check=False
    )
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()
        raise VisualizationError(
            f"graphviz `dot -T{format}` failed (exit {done.returncode}): "
            + (detail[0] if detail else "no message")
        )
    return done.stdout
