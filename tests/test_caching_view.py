"""``dr.cache.view_run`` and the per-run answers it is drawn from (``behaviors``,
``cache_keys``, ``get_cache_key``, ``get_data_version``), with a real cache directory."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from asyncdag import driver
from asyncdag.caching import CachingBehavior
from asyncdag.caching._store import forget_stores
from tests.dags_cache import viewed

FROM_CACHE, RAN, BOTH, NOT_CACHED = "#c9ecc4", "#ffd2a6", "#fff2a8", "#e6e6e6"


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    yield
    forget_stores()


def build(path: Path) -> driver.Driver:
    return driver.Builder().with_modules(viewed).with_cache(path).build()


def boxes(dot: str) -> dict[str, tuple[list[str], str | None]]:
    """Each node's label lines and last fill colour, read back from the DOT text."""
    found = {}
    for name, attrs in re.findall(r'^\s*"(\w+)" \[(.*)\];$', dot, flags=re.M):
        if name.startswith("_legend"):
            continue
        label = re.search(r'label="((?:[^"\\]|\\.)*)"', attrs)
        fills = re.findall(r'fillcolor="(#[0-9a-f]+)"', attrs)
        assert label is not None
        found[name] = (label.group(1).split("\\n"), fills[-1] if fills else None)
    return found


def test_each_node_says_what_the_cache_did_in_that_run(tmp_path: Path) -> None:
    dr = build(tmp_path)
    assert dr.execute(["total"], inputs={"x": 2, "n": 3})["total"] == 3 * 3 + 2 + 0
    assert dr.execute(["total"], inputs={"x": 2, "n": 5})["total"] == 10 * 3 + 2 + 0
    first, second = dr.cache.run_ids
    drawn = boxes(dr.cache.view_run())  # the last run
    assert drawn == boxes(dr.cache.view_run(second))
    assert drawn["base"] == (["base", "int", "from cache"], FROM_CACHE)
    assert drawn["item"][0][-1] == "run"  # n changed: the expander ran
    assert drawn["scaled"] == (["scaled", "async int", "3 from cache, 2 run"], BOTH)
    assert drawn["stamp"] == (["stamp", "int", "not cached (disable)"], NOT_CACHED)
    assert drawn["fresh"] == (["fresh", "int", "run (recompute)"], RAN)
    assert drawn["total"][0][-1] == "run"
    assert drawn["x"][1] is None and len(drawn["x"][0]) == 2  # inputs: no note
    earlier = boxes(dr.cache.view_run(first))
    assert earlier["scaled"] == (["scaled", "async int", "3 run"], RAN)
    assert earlier["base"][0][-1] == "run"
    assert 'subgraph "cluster_item"' in dr.cache.view_run(first)


def test_a_run_with_every_result_from_the_cache(tmp_path: Path) -> None:
    dr = build(tmp_path)
    dr.execute(["total"], inputs={"x": 2, "n": 4})
    forget_stores()  # a new process: everything is read back from the directory
    dr = build(tmp_path)
    dr.execute(["total"], inputs={"x": 2, "n": 4})
    notes = {name: lines[-1] for name, (lines, _) in boxes(dr.cache.view_run()).items()}
    assert notes["base"] == notes["item"] == "from cache"
    assert notes["scaled"] == "4 from cache"
    assert notes["fresh"] == "run (recompute)"
    assert notes["total"] == "run"  # it reads a disabled node: its key is never known


def test_overridden_nodes_and_unrequested_ones_are_not_annotated(tmp_path: Path) -> None:
    dr = build(tmp_path)
    dr.execute(["total"], inputs={"x": 2, "n": 2}, overrides={"base": 10})
    drawn = boxes(dr.cache.view_run())
    assert drawn["base"][0] == ["base", "int", "overridden"]  # given: nothing else to say
    assert drawn["scaled"][0][-1] == "2 run"
    dr.execute(["base"], inputs={"x": 2})
    assert set(boxes(dr.cache.view_run())) == {"x", "base"}


def test_view_run_writes_the_file_it_is_given(tmp_path: Path) -> None:
    dr = build(tmp_path / "cache")
    dr.execute(["total"], inputs={"x": 1, "n": 2})
    drawing = dr.cache.view_run(output_file_path=tmp_path / "run.dot")
    assert (tmp_path / "run.dot").read_text() == drawing.source
    mermaid = dr.cache.view_run(output_file_path=tmp_path / "run.mmd")
    assert "2 run" in mermaid and (tmp_path / "run.mmd").read_text() == mermaid


def test_an_unknown_run_is_a_clear_error(tmp_path: Path) -> None:
    dr = build(tmp_path)
    dr.execute(["base"], inputs={"x": 1})
    with pytest.raises(KeyError, match="no run 'nope'"):
        dr.cache.view_run("nope")
    with pytest.raises(KeyError, match="no run 'nope'"):
        dr.cache.resolve_behaviors("nope")


def test_item_keys_are_the_keys_the_items_are_stored_under(tmp_path: Path) -> None:
    dr = build(tmp_path)
    dr.execute(["total"], inputs={"x": 2, "n": 3})
    dr.execute(["total"], inputs={"x": 2, "n": 5})
    first, second = dr.cache.run_ids
    keys = dr.cache.cache_keys
    assert set(keys[first]["scaled"]) == {"0", "1", "2"}
    assert set(keys[second]["scaled"]) == {"0", "1", "2", "3", "4"}
    for task in ("0", "1", "2"):  # the hits were found under the keys the misses stored
        assert keys[second]["scaled"][task] == keys[first]["scaled"][task]
    dr.cache.flush()
    for task in ("3", "4"):
        key = dr.cache.get_cache_key(second, "scaled", task)
        version = dr.cache.get_data_version(second, "scaled", task_id=task)
        assert key is not None and version == f"i{int(task) * 3}"
        assert dr.cache.metadata_store.get(key) == version
    assert dr.cache.get_cache_key(second, "scaled") == keys[second]["scaled"]
    assert dr.cache.get_cache_key(second, "stamp") is None  # disabled: never keyed
    assert dr.cache.behaviors[second]["stamp"] is CachingBehavior.DISABLE
    assert dr.cache.get_cache_key(second, "base") == keys[first]["base"]


def test_a_frontier_runs_again_and_its_block_comes_from_the_cache(tmp_path: Path) -> None:
    from tests.dags_cache import frontier

    frontier.CALLS.clear()
    dr = driver.Builder().with_modules(frontier).with_cache(tmp_path).build()
    first = dr.execute(["seen"], inputs={"start": 40})["seen"]
    calls = frontier.CALLS["visited"]
    assert first == sorted(set(first)) and 1 in first and calls == len(first)
    forget_stores()
    dr = driver.Builder().with_modules(frontier).with_cache(tmp_path).build()
    assert dr.execute(["seen"], inputs={"start": 40})["seen"] == first
    assert frontier.CALLS["visited"] == calls  # every item of the block was a hit
    notes = {name: lines[-1] for name, (lines, _) in boxes(dr.cache.view_run()).items()}
    assert notes["number"] == "not cached (a Frontier; its block is)"
    assert notes["visited"] == notes["halves"] == f"{len(first):,} from cache"
