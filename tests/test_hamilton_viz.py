"""Pictures with Hamilton's signatures: a graphviz-like ``Drawing``, files written as
Hamilton writes them, inline display in Jupyter with and without graphviz's ``dot``, and the
pictures of what is upstream, downstream or between two nodes."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from asyncdag import ad_hoc_utils, driver, viz
from asyncdag.errors import ExecutionRequestError, VisualizationError

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot is missing")

SOURCE = """
from asyncdag.htypes import Collect, Parallelizable


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


def doubled(item: int) -> int:
    return item * 2


def total(doubled: Collect[int]) -> int:
    return sum(doubled)


def report(total: int, title: str) -> str:
    return f"{title}: {total}"


def unrelated(title: str) -> str:
    return title.upper()
"""


@pytest.fixture(scope="module")
def dr() -> driver.Driver:
    return driver.Builder().with_modules(ad_hoc_utils.module_from_source(SOURCE)).build()


def drawn(text: str) -> set[str]:
    """The nodes a DOT text draws (not the legend's)."""
    found = set(re.findall(r'^\s*"([^"]+)" \[label=', text, re.M))
    return {n for n in found if not n.startswith("_legend")}


def test_a_drawing_is_dot_text_with_graphviz_s_reading_methods(dr: driver.Driver) -> None:
    drawing = dr.display_all_functions()
    assert isinstance(drawing, viz.Drawing) and isinstance(drawing, str)
    assert drawing.source == str(drawing) and drawing.source.startswith("digraph")
    assert drawn(drawing) == {"item", "doubled", "total", "report", "unrelated", "n", "title"}
    assert drawing.mermaid.startswith("flowchart LR")
    digraph = drawing.to_graphviz()
    import graphviz

    assert isinstance(digraph, graphviz.Digraph)
    digraph.node("extra")
    assert "extra" in digraph.source and '"doubled"' in digraph.source


def test_visualize_execution_takes_hamilton_s_positional_order(
    dr: driver.Driver, tmp_path: Path
) -> None:
    drawing = dr.visualize_execution(["total"], str(tmp_path / "run.dot"), {}, {"n": 3})
    assert drawn(drawing) == {"item", "doubled", "total", "n"}
    assert (tmp_path / "run.dot").read_text() == drawing.source


def test_jupyter_shows_mermaid_without_dot(
    dr: driver.Driver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    bundle = dr.display_all_functions()._repr_mimebundle_()
    assert "image/svg+xml" not in bundle
    assert bundle["text/vnd.mermaid"].startswith("flowchart")
    assert bundle["text/markdown"].startswith("```mermaid\nflowchart")
    assert bundle["text/plain"].startswith("digraph")
    assert dr._repr_mimebundle_(include=["text/plain"]) == {"text/plain": bundle["text/plain"]}
    with pytest.raises(VisualizationError, match="apt-get install graphviz"):
        dr.display_all_functions(str(tmp_path / "pic.png"))


@needs_dot
def test_jupyter_shows_svg_with_dot(dr: driver.Driver) -> None:
    bundle = dr.display_all_functions()._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith(("<?xml", "<svg"))
    assert dr.display_all_functions()._repr_svg_() == bundle["image/svg+xml"]


@needs_dot
def test_files_are_written_where_hamilton_writes_them(dr: driver.Driver, tmp_path: Path) -> None:
    dr.visualize_execution(["total"], str(tmp_path / "dag"), {}, inputs={"n": 2})
    assert (tmp_path / "dag.png").read_bytes().startswith(b"\x89PNG")
    dr.display_all_functions(str(tmp_path / "all"), {"format": "svg"}, keep_dot=True)
    assert b"<svg" in (tmp_path / "all.svg").read_bytes()
    assert (tmp_path / "all").read_text().startswith("digraph")
    dr.display_all_functions(str(tmp_path / "pic.svg"))
    assert b"<svg" in (tmp_path / "pic.svg").read_bytes()
    drawing = dr.display_all_functions()
    out = drawing.render(str(tmp_path / "r"), format="pdf", cleanup=True)
    assert out == str(tmp_path / "r.pdf") and Path(out).read_bytes().startswith(b"%PDF")
    assert not (tmp_path / "r").exists()
    assert drawing.pipe("svg", encoding="utf-8").lstrip().startswith(("<?xml", "<svg"))


def test_pictures_of_what_is_up_down_or_between(dr: driver.Driver) -> None:
    down = dr.display_downstream_of("total")
    # what depends on total, with the direct parents of what is drawn
    assert drawn(down) == {"total", "report", "doubled", "title"}
    assert 'color="#d9822b"' in down.split('"total" [', 1)[1].split("\n", 1)[0]
    up = dr.display_upstream_of("report")
    assert drawn(up) == {"report", "total", "doubled", "item", "n", "title"}
    path = dr.visualize_path_between("item", "report", strict_path_visualization=True)
    assert drawn(path) == {"item", "doubled", "total", "report"}
    assert drawn(dr.visualize_path_between("item", "report")) >= {"n", "title"}
    with pytest.raises(ExecutionRequestError, match="no path"):
        dr.visualize_path_between("report", "item")
    text = dr.display_upstream_of("report", format="mermaid")
    assert text.startswith("flowchart") and "classDef highlighted" in text


def test_custom_style_function_styles_nodes_as_in_hamilton(dr: driver.Driver) -> None:
    seen: list[tuple[str, str]] = []

    def style(*, node: Any, node_class: str) -> tuple[dict[str, str], str, str]:
        seen.append((node.name, node_class))
        if node.name == "total":
            return {"fillcolor": "red", "style": "filled"}, node_class, "total"
        return {}, node_class, None  # type: ignore[return-value]

    drawing = dr.display_all_functions(custom_style_function=style)
    line = next(x for x in drawing.splitlines() if x.strip().startswith('"total" ['))
    assert 'fillcolor="red"' in line
    assert ("item", "expander") in seen and ("total", "collector") in seen
