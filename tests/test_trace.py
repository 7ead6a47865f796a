"""The Chrome trace hook writes one slice per node call, on lanes that never overlap."""

from __future__ import annotations

import json
from pathlib import Path

from asyncdag import driver
from asyncdag.lifecycle import ChromeTrace
from tests.dags_gate import gated


def test_a_run_writes_a_trace_that_perfetto_can_open(tmp_path: Path) -> None:
    import asyncio

    path = tmp_path / "trace-{run_id}.json"
    with driver.Builder().with_modules(gated).with_adapters(ChromeTrace(path)).build() as dr:
        dr.execute(["total"], inputs={"count": 3, "seen": [], "release": asyncio.Event()})
    (written,) = tmp_path.glob("trace-*.json")
    doc = json.loads(written.read_text())
    slices = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    names = sorted(e["name"] for e in slices)
    assert names == ["discount", "price", "price", "price", "sku", "total"]
    assert sorted(tuple(e["args"]["index"]) for e in slices if e["name"] == "price") == [
        (0,),
        (1,),
        (2,),
    ]
    assert doc["otherData"]["success"] is True
    by_lane: dict[int, list[tuple[float, float]]] = {}
    for e in slices:
        assert e["dur"] >= 0
        by_lane.setdefault(e["tid"], []).append((e["ts"], e["ts"] + e["dur"]))
    for spans in by_lane.values():
        spans.sort()
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), "slices overlap on a lane"
