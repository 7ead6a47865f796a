"""Parity with Hamilton's caching: the same module (written for Hamilton, and renamed to
asyncdag) runs a sequence of requests under both ``with_cache()``; each run's hits and misses
per node are the same. And a Hamilton script using ``with_cache()`` runs after the rename.

Hamilton's sync driver is the peer (its caching does not run under its async driver). Nodes
marked ``ignore``/``disable`` are not compared: Hamilton logs their execution, asyncdag does
not wrap them at all (both run them every time). Hamilton always re-runs an expander, while
asyncdag replays a cached one, so expanders are left out too.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from asyncdag.caching._store import forget_stores

hamilton_driver = pytest.importorskip("hamilton.driver")

FLOW = """
from hamilton.function_modifiers import cache
from hamilton.htypes import Collect, Parallelizable


def raw(x: int) -> list[int]:
    return [x, x + 1, x + 2]


@cache(behavior="recompute")
def fresh(x: int) -> int:
    return x % 2


def cleaned(raw: list[int], fresh: int) -> list[int]:
    return [v * 10 + fresh for v in raw]


def count(cleaned: list[int], label: str = "n") -> dict:
    return {label: len(cleaned), "sum": sum(cleaned)}


@cache(behavior="ignore")
def client(x: int) -> object:
    return object()


def enriched(count: dict, client: object) -> dict:
    return {**count, "enriched": True}


def item(cleaned: list[int]) -> Parallelizable[int]:
    for v in cleaned:
        yield v


def squared(item: int) -> int:
    return item * item


def gathered(squared: Collect[int]) -> int:
    return sum(squared)
"""

# a change to one function's body between runs (the others unchanged)
FLOW_V2 = FLOW.replace(
    "return [v * 10 + fresh for v in raw]", "return [v * 100 + fresh for v in raw]"
)

REQUESTS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("v1", {"x": 1}, {}),
    ("v1", {"x": 1}, {}),
    ("v1", {"x": 3}, {}),  # fresh is equal (3 % 2 == 1): what depends only on it hits
    ("v1", {"x": 1, "label": "m"}, {}),
    ("v1", {"x": 1}, {"raw": [1, 2]}),
    ("v2", {"x": 1}, {}),
    ("v2", {"x": 1}, {}),
]
OUTPUTS = ["enriched", "gathered"]
COMPARED = {"raw", "fresh", "cleaned", "count", "enriched", "squared", "gathered"}


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    yield
    forget_stores()


def _load(tmp_path: Path, name: str, source: str) -> Any:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _summary(logs: dict[Any, list[Any]]) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {}
    for key, events in logs.items():
        node = key[0] if isinstance(key, tuple) else key
        if node not in COMPARED:
            continue
        for event in events:
            out.setdefault(node, Counter())[event.event_type.value] += 1
    return out


def test_each_run_hits_and_misses_like_hamilton(tmp_path: Path) -> None:
    modules = {
        "hamilton": {
            "v1": _load(tmp_path, "h_flow_v1", FLOW),
            "v2": _load(tmp_path, "h_flow_v2", FLOW_V2),
        },
        "asyncdag": {
            "v1": _load(tmp_path, "a_flow_v1", FLOW.replace("hamilton", "asyncdag")),
            "v2": _load(tmp_path, "a_flow_v2", FLOW_V2.replace("hamilton", "asyncdag")),
        },
    }
    from asyncdag import driver as a_driver

    seen: dict[str, list[dict[str, Counter[str]]]] = {"hamilton": [], "asyncdag": []}
    results: dict[str, list[dict[str, Any]]] = {"hamilton": [], "asyncdag": []}
    for version, inputs, overrides in REQUESTS:
        h = (
            hamilton_driver.Builder()
            .with_modules(modules["hamilton"][version])
            .enable_dynamic_execution(allow_experimental_mode=True)
            .with_cache(path=str(tmp_path / "h_cache"))
            .build()
        )
        a = (
            a_driver.Builder()
            .with_modules(modules["asyncdag"][version])
            .enable_dynamic_execution(allow_experimental_mode=True)
            .with_cache(path=str(tmp_path / "a_cache"))
            .build()
        )
        for name, dr in (("hamilton", h), ("asyncdag", a)):
            results[name].append(dr.execute(OUTPUTS, inputs=inputs, overrides=overrides))
            seen[name].append(_summary(dr.cache.logs(run_id=dr.cache.last_run_id, level="info")))
    assert results["asyncdag"] == results["hamilton"]
    for i, (h_run, a_run) in enumerate(zip(seen["hamilton"], seen["asyncdag"], strict=True)):
        assert a_run == h_run, (i, REQUESTS[i])
    # the sequence exercised both outcomes for every compared node
    for node in COMPARED - {"fresh"}:
        outcomes = {k for run in seen["asyncdag"] for k in run.get(node, {})}
        assert outcomes == {"get_result", "execute_node"}, node


SCRIPT = """
import os
import sys
from hamilton import driver
from hamilton.caching.adapter import CachingEventType
from hamilton.caching.stores.file import FileResultStore
from hamilton.caching.stores.sqlite import SQLiteMetadataStore
from hamilton.function_modifiers import cache

import {flow}

path = sys.argv[1]
dr = (
    driver.Builder()
    .with_modules({flow})
    .with_cache(path=path, recompute=["fresh"])
    .build()
)
dr.execute(["enriched"], inputs={{"x": 2}})
result = dr.execute(["enriched"], inputs={{"x": 2}})
run_logs = dr.cache.logs(run_id=dr.cache.last_run_id, level="info")
hits = sorted(
    node for node, events in run_logs.items()
    if any(e.event_type == CachingEventType.GET_RESULT for e in events)
)
version = dr.cache.data_versions[dr.cache.last_run_id]["enriched"]
assert isinstance(dr.cache.metadata_store, SQLiteMetadataStore)
assert isinstance(dr.cache.result_store, FileResultStore)
assert len(dr.cache.run_ids) == 2 and dr.cache.last_run_id == dr.cache.run_ids[-1]
print(result, hits, dr.cache.result_store.get(version) == result["enriched"])
"""


def test_a_hamilton_script_with_with_cache_runs_after_the_rename(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _load(tmp_path, "renamed_flow", FLOW.replace("hamilton", "asyncdag"))
    script = SCRIPT.format(flow="renamed_flow").replace("hamilton", "asyncdag")
    old_argv = sys.argv
    sys.argv = ["script", str(tmp_path / "cache")]
    try:
        exec(compile(script, "renamed_script.py", "exec"), {"__name__": "__main__"})
    finally:
        sys.argv = old_argv
    out = capsys.readouterr().out
    assert "{'enriched': {'n': 3, 'sum': 90, 'enriched': True}}" in out
    assert "['cleaned', 'count', 'enriched', 'raw'] True" in out


def test_dr_cache_answers_in_hamiltons_shapes(tmp_path: Path) -> None:
    """The inspection surface a Hamilton user calls: ``code_versions``, ``behaviors``,
    ``data_versions`` and ``cache_keys`` by run id then node, ``resolve_behaviors``,
    ``resolve_code_versions``, ``get_data_version`` and ``get_cache_key`` (the key's entry in
    the metadata store names the data version), on the same module under both libraries."""
    from asyncdag import driver as a_driver

    drivers = {
        "hamilton": hamilton_driver.Builder()
        .with_modules(_load(tmp_path, "h_shapes", FLOW))
        .with_cache(path=str(tmp_path / "h_cache"))
        .build(),
        "asyncdag": a_driver.Builder()
        .with_modules(_load(tmp_path, "a_shapes", FLOW.replace("hamilton", "asyncdag")))
        .with_cache(path=str(tmp_path / "a_cache"))
        .build(),
    }
    executed = {"raw", "fresh", "cleaned", "count", "client", "enriched"}
    seen: dict[str, dict[str, Any]] = {}
    for name, dr in drivers.items():
        dr.execute(["enriched"], inputs={"x": 1})
        dr.execute(["enriched"], inputs={"x": 1})
        cache = dr.cache
        run_id = cache.last_run_id
        assert set(cache.code_versions) >= {run_id}, name
        assert set(cache.code_versions[run_id]) - {"x"} == executed, name
        behaviors = cache.behaviors[run_id]
        assert {n: b.name for n, b in behaviors.items() if n in executed} == {
            **dict.fromkeys(executed, "DEFAULT"),
            "fresh": "RECOMPUTE",
            "client": "IGNORE",
        }, name
        assert cache.resolve_behaviors(run_id) == behaviors, name
        everything = cache.resolve_code_versions(run_id)  # every node of the graph
        assert set(everything) >= executed | {"item", "squared", "gathered"}, name
        assert all(everything[n] == cache.code_versions[run_id][n] for n in executed), name
        partial = cache.resolve_code_versions(run_id, final_vars=["cleaned"], inputs={"x": 1})
        assert set(partial) - {"x"} == {"raw", "fresh", "cleaned"}, name
        version = cache.get_data_version(run_id, "count")
        assert version == cache.data_versions[run_id]["count"], name
        key = cache.get_cache_key(run_id, "count")
        assert key == cache.cache_keys[run_id]["count"], name
        assert cache.metadata_store.get(key) == version, name
        # a node the run did not execute: the entry stored under the key answers
        assert cache.get_data_version(run_id, "gathered", cache_key=key) == version, name
        seen[name] = {"first": cache.cache_keys[cache.run_ids[0]]["count"], "second": key}
    for name, keys in seen.items():
        assert keys["first"] == keys["second"], name  # a hit is found under the miss's key
