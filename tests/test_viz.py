"""Pictures: blocks as nested clusters, every edge, the nodes a request runs, the file formats.

DOT is checked by parsing the text (no dependency); where graphviz's ``dot`` is installed, the
same structure is checked again from graphviz's own JSON reading of it, and SVG/PNG rendering
is tested. Without graphviz those tests are skipped and the error that names it is tested.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from asyncdag import driver, viz
from asyncdag._viz import Item, Picture, to_dot
from asyncdag.errors import AsyncDagError, MissingInputError, UnknownOutputError
from tests.dags_viz import shops

DOT = shutil.which("dot")
needs_graphviz = pytest.mark.skipif(DOT is None, reason="graphviz's dot is not installed")

INPUTS = {"regions": ["a", "b"], "shops_per_region": 2}


@pytest.fixture
def dr() -> driver.Driver:
    return driver.Builder().with_modules(shops).with_config({"mode": "m"}).build()


# -- a small reader of the DOT this library writes -------------------------------------------

_ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^,\s\]]+)')
_NODE = re.compile(r'^"((?:[^"\\]|\\.)*)" \[(.*)\];$')
_EDGE = re.compile(r'^"((?:[^"\\]|\\.)*)" -> "((?:[^"\\]|\\.)*)"(?: \[(.*)\])?;$')
_CLUSTER = re.compile(r'^subgraph "((?:[^"\\]|\\.)*)" \{$')


@dataclass
class Dot:
    nodes: dict[str, dict[str, str]] = field(default_factory=dict)
    cluster_of: dict[str, str | None] = field(default_factory=dict)  # node -> innermost cluster
    parent: dict[str, str | None] = field(default_factory=dict)  # cluster -> enclosing cluster
    edges: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)


def _attrs(text: str | None) -> dict[str, str]:
    return {k: v.strip('"') for k, v in _ATTR.findall(text or "")}


def parse_dot(text: str | bytes) -> Dot:
    assert isinstance(text, str)
    dot = Dot()
    stack: list[str] = []
    lines = [line.strip() for line in text.strip().splitlines()]
    assert lines[0] == "digraph asyncdag {" and lines[-1] == "}"
    for line in lines[1:-1]:
        if m := _CLUSTER.match(line):
            dot.parent[m.group(1)] = stack[-1] if stack else None
            stack.append(m.group(1))
        elif line == "}":
            stack.pop()
        elif m := _EDGE.match(line):
            dot.edges[(m.group(1), m.group(2))] = _attrs(m.group(3))
        elif m := _NODE.match(line):
            if m.group(1) not in ("graph", "node", "edge"):
                dot.nodes[m.group(1)] = _attrs(m.group(2))
                dot.cluster_of[m.group(1)] = stack[-1] if stack else None
    assert not stack, "unbalanced braces"
    return dot


def chain(dot: Dot, cluster: str | None) -> list[str]:
    """The clusters from the outside in, down to ``cluster``."""
    found: list[str] = []
    while cluster is not None:
        found.insert(0, cluster)
        cluster = dot.parent[cluster]
    return found


# -- the whole graph ----------------------------------------------------------------------------


def test_blocks_are_clusters_nested_as_the_expanders_are(dr: driver.Driver) -> None:
    dot = parse_dot(viz.to_dot(dr))
    assert dot.parent["cluster_region"] is None
    assert dot.parent["cluster_shop"] == "cluster_region"
    assert chain(dot, dot.cluster_of["sale"]) == ["cluster_region", "cluster_shop"]
    for name in ("shop", "sales", "shop_count", "region_summary"):
        assert dot.cluster_of[name] == "cluster_region", name
    # an expander runs outside its own block; collectors sit just outside what they collect
    for name in ("region", "summaries", "summary_chars", "report", "prefix", "unused"):
        assert dot.cluster_of[name] is None, name
    assert dot.nodes["region"]["class"] == "expander"
    assert dot.nodes["shop"]["class"] == "expander"


def test_every_dependency_is_an_edge_and_collect_edges_are_dashed(dr: driver.Driver) -> None:
    dot = parse_dot(viz.to_dot(dr))
    expected = {
        (dep.name, node.name) for node in dr.graph.nodes.values() for dep in node.dependencies
    }
    assert set(dot.edges) == expected
    assert dot.edges[("sale", "sales")] == {"style": "dashed", "label": "Collect"}
    assert dot.edges[("shop", "shop_count")] == {"style": "dashed", "label": "CollectStream"}
    assert dot.edges[("region_summary", "summary_chars")]["label"] == "CollectAsCompleted"
    assert dot.edges[("scale", "report")]["style"] == "dotted"  # an optional input
    assert dot.edges[("shop", "sale")] == {}


def test_inputs_config_and_collectors_have_their_own_look(dr: driver.Driver) -> None:
    dot = parse_dot(viz.to_dot(dr))
    kinds = {name: attrs["class"] for name, attrs in dot.nodes.items() if "class" in attrs}
    assert kinds["mode"] == "config"
    assert {kinds[n] for n in ("regions", "shops_per_region", "scale")} == {"input"}
    assert {kinds[n] for n in ("sales", "shop_count", "summaries", "summary_chars")} == {
        "collector"
    }
    looks = {
        kind: (dot.nodes[name]["shape"], dot.nodes[name]["style"]) for name, kind in kinds.items()
    }
    assert len(set(looks.values())) == 5
    assert "streaming collector" in dot.nodes["shop_count"]["label"]
    assert "async Parallelizable[str]" in dot.nodes["shop"]["label"]
    assert all(
        n.startswith("_legend_") for n in dot.nodes if dot.cluster_of[n] == "cluster__legend"
    )


def test_hide_inputs_legend_orient_and_graphviz_attributes(dr: driver.Driver) -> None:
    text = viz.to_dot(
        dr,
        hide_inputs=True,
        show_legend=False,
        orient="TB",
        graphviz_kwargs={"graph_attr": {"ratio": "1"}, "node_attr": {"fontsize": "9"}},
    )
    dot = parse_dot(text)
    assert not {"mode", "regions", "scale"} & set(dot.nodes)
    assert "cluster__legend" not in dot.parent
    assert 'rankdir="TB"' in text and 'ratio="1"' in text and 'fontsize="9"' in text
    with pytest.raises(ValueError, match="graph_attr"):
        viz.to_dot(dr, graphviz_kwargs={"engine": {}})


def test_names_are_quoted_and_escaped() -> None:
    picture = Picture()
    picture.items['we"ird\\name'] = Item('we"ird\\name', "node", ('we"ird\\name', "int"))
    picture.items["ns.expander"] = Item("ns.expander", "expander", ("ns.expander",))
    picture.items["x"] = Item("x", "node", ("x",), scope=("ns.expander",))
    dot = parse_dot(to_dot(picture))
    assert set(dot.nodes) >= {'we\\"ird\\\\name', "ns.expander", "x"}
    assert dot.cluster_of["x"] == "cluster_ns.expander"


# -- one request ------------------------------------------------------------------------------


def test_execution_shows_only_the_nodes_that_run(dr: driver.Driver) -> None:
    dot = parse_dot(dr.visualize_execution(["summaries"], inputs=INPUTS))
    nodes = {n for n in dot.nodes if not n.startswith("_legend_")}
    assert nodes == {
        "mode",
        "regions",
        "shops_per_region",
        "prefix",
        "region",
        "shop",
        "sale",
        "sales",
        "shop_count",
        "region_summary",
        "summaries",
    }
    assert dot.nodes["summaries"].get("penwidth")  # the requested output stands out
    assert dot.cluster_of["sale"] == "cluster_shop"


def test_overridden_nodes_are_marked_and_what_only_they_needed_is_left_out(
    dr: driver.Driver,
) -> None:
    text = dr.visualize_execution(
        ["report"], inputs=INPUTS, overrides={"summaries": ["x"], "shop_count": 3}
    )
    dot = parse_dot(text)
    assert "overridden" in dot.nodes["summaries"]["label"]
    assert "overridden" in dot.nodes["shop_count"]["label"]
    assert dot.cluster_of["summaries"] is None
    assert ("region_summary", "summaries") not in dot.edges  # given, not collected
    # summary_chars still needs region_summary, which needs sales, but no shop count
    assert {"summary_chars", "region_summary", "sales", "sale", "shop"} <= set(dot.nodes)
    assert ("shop", "shop_count") not in dot.edges
    assert "_legend_overridden" in dot.nodes


def test_an_overridden_expander_still_fans_out(dr: driver.Driver) -> None:
    dot = parse_dot(
        dr.visualize_execution(
            ["summaries"], inputs={"shops_per_region": 1}, overrides={"region": ["a", "b"]}
        )
    )
    assert "regions" not in dot.nodes
    assert "overridden" in dot.nodes["region"]["label"]
    assert dot.cluster_of["shop"] == "cluster_region"


def test_a_request_that_could_not_run_raises_as_the_run_would(dr: driver.Driver) -> None:
    with pytest.raises(MissingInputError):
        dr.visualize_execution(["report"])
    with pytest.raises(UnknownOutputError):
        dr.visualize_execution(["nope"], inputs=INPUTS)
    dot = parse_dot(dr.visualize_execution(["report"], bypass_validation=True))
    assert {"regions", "shops_per_region", "report"} <= set(dot.nodes)


# -- Mermaid ---------------------------------------------------------------------------------


def test_mermaid_nests_subgraphs_and_draws_collect_edges(dr: driver.Driver) -> None:
    text = dr.display_all_functions(format="mermaid")
    assert isinstance(text, str)
    lines = [line.strip() for line in text.splitlines()]
    assert lines[0] == "flowchart LR"
    stack: list[str] = []
    where: dict[str, list[str]] = {}
    for line in lines[1:]:
        if line.startswith("subgraph "):
            stack.append(line.split()[1])
        elif line == "end":
            stack.pop()
        elif m := re.match(r"^(\w+)[\[(>]", line):
            where[m.group(1)] = list(stack)
    assert not stack
    assert where["sale"] == ["cluster_region", "cluster_shop"]
    assert where["sales"] == ["cluster_region"]
    assert where["report"] == []
    assert "sale -. Collect .-> sales" in lines
    assert "shop -. CollectStream .-> shop_count" in lines
    assert "scale -. optional .-> report" in lines
    assert "prefix --> sale" in lines


def test_mermaid_ids_avoid_reserved_words() -> None:
    picture = Picture()
    picture.items["end"] = Item("end", "node", ("end",))
    picture.items["a b"] = Item("a b", "input", ("a b",))
    from asyncdag._viz import Edge, to_mermaid

    picture.edges.append(Edge("a b", "end"))
    text = to_mermaid(picture)
    assert "n_end(" in text and "a_b -->" in text and "--> n_end" in text


# -- files and formats ------------------------------------------------------------------------


def test_writes_the_file_in_the_format_its_suffix_names(dr: driver.Driver, tmp_path: Path) -> None:
    dot_text = dr.display_all_functions(str(tmp_path / "g.dot"))
    assert (tmp_path / "g.dot").read_text() == dot_text
    mermaid = dr.display_all_functions(str(tmp_path / "g.mmd"))
    assert isinstance(mermaid, str) and mermaid.startswith("flowchart")
    assert (tmp_path / "g.mmd").read_text() == mermaid
    explicit = dr.display_all_functions(str(tmp_path / "g.txt"), format="mermaid")
    assert (tmp_path / "g.txt").read_text() == explicit
    with pytest.raises(ValueError, match="unknown format"):
        dr.display_all_functions(format="jpeg")


def test_without_graphviz_svg_names_what_to_install(
    dr: driver.Driver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` to be found
    with pytest.raises(AsyncDagError, match="apt-get install graphviz"):
        dr.display_all_functions(format="svg")
    assert not (tmp_path / "g.png").exists()


@needs_graphviz
def test_graphviz_reads_the_same_nested_clusters(dr: driver.Driver) -> None:
    assert DOT is not None
    done = subprocess.run(
        [DOT, "-Tjson"], input=viz.to_dot(dr), capture_output=True, text=True, check=True
    )
    assert "Warning" not in done.stderr and "Error" not in done.stderr
    data = json.loads(done.stdout)
    objects = data["objects"]
    names = [o["name"] for o in objects]
    members = {
        o["name"]: {objects[i]["name"] for i in o.get("nodes", []) if i < len(objects)}
        for o in objects
        if o["name"].startswith("cluster")
    }
    clusters = {o["name"]: {names[i] for i in o.get("subgraphs", [])} for o in objects}
    assert clusters["cluster_region"] == {"cluster_shop"}
    assert "sale" in members["cluster_shop"]
    assert {"shop", "sales", "region_summary", "sale"} <= members["cluster_region"]
    assert "region" not in members["cluster_region"]
    edges = {(names[e["tail"]], names[e["head"]]) for e in data["edges"]}
    assert ("sale", "sales") in edges and ("region_summary", "summary_chars") in edges


@needs_graphviz
def test_svg_and_png_render(dr: driver.Driver, tmp_path: Path) -> None:
    svg = dr.display_all_functions(str(tmp_path / "g.svg"))
    assert isinstance(svg, str)
    root = ET.fromstring((tmp_path / "g.svg").read_bytes())
    ns = {"svg": "http://www.w3.org/2000/svg"}
    titles = {
        g.findtext("svg:title", namespaces=ns): g.get("class")
        for g in root.iter("{http://www.w3.org/2000/svg}g")
    }
    assert titles["cluster_region"] == "cluster" and titles["cluster_shop"] == "cluster"
    assert titles["shop"] == "node expander"
    drawing = dr.visualize_execution(["summaries"], str(tmp_path / "r.png"), inputs=INPUTS)
    assert (tmp_path / "r.png").read_bytes().startswith(b"\x89PNG")
    png = dr.visualize_execution(["summaries"], inputs=INPUTS, format="png")
    assert isinstance(png, bytes) and png.startswith(b"\x89PNG")
    assert drawing.pipe("png").startswith(b"\x89PNG")
