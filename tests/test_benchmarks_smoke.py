"""The benchmark code runs: every workload at a tiny size. No timing is asserted here."""

from __future__ import annotations

import pytest

from benchmarks import _harness, w0, w1, w2, w3, w4

pytestmark = pytest.mark.filterwarnings("ignore")


def _systems(rows: list[_harness.Row]) -> set[str]:
    return {r.system for r in rows}


def test_w0_runs_every_system() -> None:
    rows = w0.bench(repeats=1, target=0.001)
    assert _systems(rows) >= {
        "plain calls",
        "asyncdag execute",
        "asyncdag aexecute",
        "Hamilton Driver",
        "Hamilton AsyncDriver",
    }
    assert all(r.value > 0 for r in rows)
    assert len(w0.targets(rows)) == 2
    assert "W0" in _harness.format_table(rows)


def test_w1_runs_every_system() -> None:
    rows = w1.bench(sizes=(50,), repeats=1, hamilton_sizes=(50,), items_per_sample=50)
    assert _systems(rows) == set(w1.ORDER)
    assert w1.targets(rows)


def test_w2_runs_every_system() -> None:
    rows = w2.bench(n=50, concurrency=10, delay=0.001, repeats=1)
    assert _systems(rows) == {"ideal", w2.PLAIN, w2.ASYNC, w2.HAMILTON}


def test_w3_runs_every_system() -> None:
    rows = w3.bench(n=20, gap=0.001, cost=0.001, repeats=1)
    assert len(rows) == 5


def test_w4_runs_in_a_subprocess() -> None:
    rows = w4.bench(n=50)
    assert _systems(rows) == set(w4.VARIANTS.values())
    assert all(r.value >= 0 for r in rows)
    assert w4.targets(rows)


def test_main_rejects_an_unknown_workload() -> None:
    from benchmarks.__main__ import main

    with pytest.raises(SystemExit):
        main(["w9"])


def test_w5_runs_the_local_executors() -> None:
    from benchmarks import w5

    cpu = w5.cpu_rows(n=4, cost=0.001, repeats=1)
    assert _systems(cpu) == {"asyncdag inline", "asyncdag processes(2)", "Hamilton processes(2)"}
    overhead = w5.overhead_rows(n=20, hamilton_n=5, repeats=1, clusters=False)
    assert _systems(overhead) == {
        "asyncdag threads(4)",
        "asyncdag processes(2)",
        "Hamilton threads(4)",
        "Hamilton processes(2)",
    }
    assert len(w5.targets(cpu + overhead)) == 2


def test_instructions_rejects_an_unknown_case() -> None:
    from benchmarks import instructions

    with pytest.raises(SystemExit):
        instructions.main(["w9"])


def test_instructions_counts_a_w1_item() -> None:
    import shutil

    from benchmarks import instructions

    if shutil.which("valgrind") is None:
        pytest.skip("valgrind is not installed")
    # an item of W1 runs a task, a coroutine and the engine's bookkeeping: thousands of
    # instructions, and far fewer than a run's start-up (which the difference leaves out)
    assert 5_000 < instructions.per_unit("w1", 20) < 500_000
