"""with_cache() through the driver: hits and misses per node and per item, behaviours,
formats, expanders, collectors, nested blocks, failures, code changes and the dr.cache API.

Every test has its own cache directory (a real SQLite file and real result files under
``tmp_path``). ``fresh_process()`` drops this process's open stores, so the next driver
reads the directory as a new process would (nothing in memory).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from asyncdag import driver
from asyncdag.caching import CachingBehavior, CachingEventType
from asyncdag.caching._store import forget_stores
from asyncdag.caching.adapter import CacheAdapter
from asyncdag.errors import InvalidDecoratorError
from asyncdag.function_modifiers import cache
from asyncdag.htypes import ItemFailure
from tests.dags_cache import shapes

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    shapes.CALLS.clear()
    yield
    forget_stores()


def fresh_process() -> None:
    forget_stores()


def build(path: Path, *modules: Any, **options: Any) -> driver.Driver:
    return (
        driver.Builder().with_modules(*(modules or (shapes,))).with_cache(path, **options).build()
    )


def calls() -> dict[str, int]:
    found = dict(shapes.CALLS)
    shapes.CALLS.clear()
    return found


# -- static DAGs -------------------------------------------------------------------------


def test_a_second_run_takes_every_node_from_the_cache(tmp_path: Path) -> None:
    dr = build(tmp_path)
    first = dr.execute(["joined"], inputs={"x": 3})
    assert first == {"joined": {"left": 31, "right": 60}}
    assert calls() == {"base": 1, "left": 1, "right": 1, "joined": 1}
    assert dr.execute(["joined"], inputs={"x": 3}) == first
    assert calls() == {}
    assert dr.cache.hits() == {"base": 1, "left": 1, "right": 1, "joined": 1}
    assert dr.cache.misses() == {}


def test_results_survive_the_process_and_another_driver_reads_them(tmp_path: Path) -> None:
    build(tmp_path).execute(["joined"], inputs={"x": 3})
    calls()
    fresh_process()
    dr = build(tmp_path)
    assert dr.execute(["joined"], inputs={"x": 3}) == {"joined": {"left": 31, "right": 60}}
    assert calls() == {}


def test_a_changed_input_misses_only_what_depends_on_it(tmp_path: Path) -> None:
    dr = build(tmp_path)
    dr.execute(["joined"], inputs={"x": 3})
    calls()
    dr.execute(["joined"], inputs={"x": 3, "scale": 5})  # only `right` reads scale
    assert calls() == {"right": 1, "joined": 1}
    dr.execute(["joined"], inputs={"x": 4})
    assert calls() == {"base": 1, "left": 1, "right": 1, "joined": 1}


def test_a_dependency_that_returns_the_same_value_keeps_its_dependents_hits(tmp_path: Path) -> None:
    # recompute: the node always runs, but an equal result has an equal data version
    dr = build(tmp_path)
    dr.execute(["after_clock"], inputs={"x": 1})
    assert calls() == {"clock": 1, "after_clock": 1}
    dr.execute(["after_clock"], inputs={"x": 1})
    assert calls() == {"clock": 1}


def test_overrides_are_versioned_like_inputs(tmp_path: Path) -> None:
    dr = build(tmp_path)
    assert dr.execute(["joined"], overrides={"base": 7}) == {"joined": {"left": 8, "right": 14}}
    calls()
    dr.execute(["joined"], overrides={"base": 7})
    assert calls() == {}
    dr.execute(["joined"], overrides={"base": 8})
    assert calls() == {"left": 1, "right": 1, "joined": 1}


async def test_aexecute_and_astream_share_the_cache_with_execute(tmp_path: Path) -> None:
    dr = build(tmp_path)
    await dr.aexecute(["joined"], inputs={"x": 2})
    assert calls() == {"base": 1, "left": 1, "right": 1, "joined": 1}
    events = [e async for e in dr.astream(["joined", "lengths"], inputs={"x": 2, "text": "a bb"})]
    assert events[-1].value == {"joined": {"left": 21, "right": 40}, "lengths": [1, 2]}
    assert calls() == {"words": 1, "length": 2, "lengths": 1}
    with anyio.fail_after(10):
        result = await asyncio.get_running_loop().run_in_executor(
            None, lambda: dr.execute(["lengths"], inputs={"text": "a bb"})
        )
    assert result == {"lengths": [1, 2]}
    assert calls() == {}


# -- blocks ------------------------------------------------------------------------------


def test_items_are_keyed_by_their_own_dependencies(tmp_path: Path) -> None:
    dr = build(tmp_path)
    text = "one two three"
    assert dr.execute(["lengths"], inputs={"text": text}) == {"lengths": [3, 3, 5]}
    assert calls() == {"words": 1, "length": 3, "lengths": 1}
    # a new text: the expander runs again; items seen before are hits, "four" is new
    assert dr.execute(["lengths"], inputs={"text": "two four one"}) == {"lengths": [3, 4, 3]}
    assert calls() == {"words": 1, "length": 1, "lengths": 1}
    assert dr.cache.hits()["length"] == 2


def test_a_cached_expander_replays_its_items_without_running(tmp_path: Path) -> None:
    dr = build(tmp_path)
    outputs = ["lengths", "shout"]
    first = dr.execute(outputs, inputs={"text": "a bb ccc"})
    calls()
    fresh_process()
    dr = build(tmp_path)
    assert dr.execute(outputs, inputs={"text": "a bb ccc"}) == first
    assert calls() == {}
    hits = dr.cache.hits()
    assert hits["words"] == 1 and hits["length"] == 3 and hits["shout"] == 3


def test_an_expander_of_many_items_is_stored_in_parts(tmp_path: Path) -> None:
    text = " ".join(f"w{i}" for i in range(2500))  # three parts of up to 1,024 items
    dr = build(tmp_path)
    first = dr.execute(["lengths"], inputs={"text": text})
    calls()
    fresh_process()
    dr = build(tmp_path)
    assert dr.execute(["lengths"], inputs={"text": text}) == first
    assert calls() == {}


def test_a_collector_is_keyed_by_the_values_it_collects(tmp_path: Path) -> None:
    dr = build(tmp_path)
    dr.execute(["lengths"], inputs={"text": "ab cd"})
    calls()
    # other words, the same lengths: the collector's inputs are equal, so it hits
    dr.execute(["lengths"], inputs={"text": "xy zw"})
    assert calls() == {"words": 1, "length": 2}
    dr.execute(["lengths"], inputs={"text": "xy zwq"})
    assert calls() == {"words": 1, "length": 1, "lengths": 1}


def test_a_streaming_collector_always_runs_over_cached_items(tmp_path: Path) -> None:
    dr = build(tmp_path)
    assert dr.execute(["streamed"], inputs={"text": "a b c"}) == {"streamed": 3}
    calls()
    assert dr.execute(["streamed"], inputs={"text": "a b c"}) == {"streamed": 3}
    assert calls() == {"streamed": 1}


def test_nested_blocks(tmp_path: Path) -> None:
    dr = build(tmp_path)
    rows = [[1, 2], [3], [4, 5, 6]]
    assert dr.execute(["grid_total"], inputs={"rows": rows}) == {"grid_total": 42}
    assert calls() == {"row": 1, "cell": 3, "doubled": 6, "row_sum": 3, "grid_total": 1}
    rows2 = [[1, 2], [3, 7]]
    assert dr.execute(["grid_total"], inputs={"rows": rows2}) == {"grid_total": 26}
    # row [1, 2] is a hit all the way; row [3, 7] runs its cell expander, 3 is a hit
    assert calls() == {"row": 1, "cell": 1, "doubled": 1, "row_sum": 1, "grid_total": 1}


def test_failures_that_are_data_are_cached_and_raised_again(tmp_path: Path) -> None:
    dr = build(tmp_path)
    names = ["ann", "nobody", "bob"]
    assert dr.execute(["found"], inputs={"names": names}) == {
        "found": ["Ann", "missing nobody", "Bob"]
    }
    assert calls()["looked_up:nobody"] == 1
    fresh_process()
    dr = build(tmp_path)
    result = dr.execute(["looked_up"], inputs={"names": names})
    failure = result["looked_up"][1]
    assert isinstance(failure, ItemFailure) and isinstance(failure.error, shapes.Missing)
    assert failure.error.name == "nobody" and failure.error.why == "no such entry"
    assert str(failure.error) == "nobody: no such entry"
    assert calls() == {}


def test_failures_run_again_when_cache_failures_is_off(tmp_path: Path) -> None:
    dr = build(tmp_path, cache_failures=False)
    dr.execute(["found"], inputs={"names": ["ann", "nobody"]})
    calls()
    dr.execute(["found"], inputs={"names": ["ann", "nobody"]})
    # the failure happens again and equals the last one, so the collector still hits
    assert calls() == {"looked_up:nobody": 1}


# -- behaviours ----------------------------------------------------------------------------


def test_behaviors_from_the_decorator(tmp_path: Path) -> None:
    dr = build(tmp_path)
    outputs = ["after_clock", "uses_client", "after_uncached"]
    dr.execute(outputs, inputs={"x": 1})
    calls()
    dr.execute(outputs, inputs={"x": 1})
    # recompute runs, its dependent hits; ignore runs and is left out of its dependent's key;
    # disable runs and its dependent can never hit
    assert calls() == {"clock": 1, "client": 1, "uncached": 1, "after_uncached": 1}
    assert dr.cache.behaviors[dr.cache.last_run_id]["client"] is CachingBehavior.IGNORE


def test_builder_lists_win_over_the_decorator(tmp_path: Path) -> None:
    dr = build(tmp_path, default=["clock"], recompute=["left"])
    dr.execute(["after_clock", "joined"], inputs={"x": 1})
    calls()
    dr.execute(["after_clock", "joined"], inputs={"x": 1})
    assert calls() == {"left": 1}


def test_opt_in_caching_with_default_behavior_disable(tmp_path: Path) -> None:
    dr = build(tmp_path, default=["base"], default_behavior="disable")
    dr.execute(["joined"], inputs={"x": 1})
    calls()
    dr.execute(["joined"], inputs={"x": 1})
    assert calls() == {"left": 1, "right": 1, "joined": 1}


def test_recompute_true_runs_everything_and_still_stores(tmp_path: Path) -> None:
    build(tmp_path, recompute=True).execute(["joined"], inputs={"x": 1})
    assert calls() == {"base": 1, "left": 1, "right": 1, "joined": 1}
    build(tmp_path, recompute=True).execute(["joined"], inputs={"x": 1})
    assert calls() == {"base": 1, "left": 1, "right": 1, "joined": 1}
    build(tmp_path).execute(["joined"], inputs={"x": 1})
    assert calls() == {}


def test_disable_true_is_as_if_there_were_no_cache(tmp_path: Path) -> None:
    dr = build(tmp_path, disable=True)
    dr.execute(["joined"], inputs={"x": 1})
    dr.execute(["joined"], inputs={"x": 1})
    assert calls() == {"base": 2, "left": 2, "right": 2, "joined": 2}


def test_bad_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="only one of"):
        build(tmp_path, recompute=True, disable=True)
    with pytest.raises(ValueError, match="two caching behaviors"):
        build(tmp_path, recompute=["a"], ignore=["a"])
    with pytest.raises(KeyError, match="not a caching behavior"):
        build(tmp_path, default_behavior="sometimes")
    with pytest.raises(InvalidDecoratorError, match="not a caching behavior"):
        cache(behavior="sometimes")  # type: ignore[arg-type]
    with pytest.raises(InvalidDecoratorError, match="unknown cache format"):
        cache(format="toml")
    with pytest.raises(TypeError, match="unexpected"):
        build(tmp_path, colour="blue")


def test_a_driver_without_a_cache_says_so() -> None:
    dr = driver.Builder().with_modules(shapes).build()
    with pytest.raises(KeyError, match="with_cache"):
        dr.cache  # noqa: B018


# -- code versions -----------------------------------------------------------------------


def _module(tmp_path: Path, name: str, source: str) -> Any:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_a_node_whose_code_changes_is_recomputed(tmp_path: Path) -> None:
    v1 = _module(
        tmp_path,
        "flow_v1",
        """
        def a(x: int) -> int:
            return x + 1

        def b(a: int) -> int:
            return a * 2
        """,
    )
    v2 = _module(
        tmp_path,
        "flow_v2",
        '''
        def a(x: int) -> int:
            """A docstring and a comment do not change the code version."""
            return x + 1  # the same code

        def b(a: int) -> int:
            return a * 3
        ''',
    )
    cache_dir = tmp_path / "cache"
    dr1 = build(cache_dir, v1)
    assert dr1.execute(["b"], inputs={"x": 1}) == {"b": 4}
    dr2 = build(cache_dir, v2)
    assert dr2.execute(["b"], inputs={"x": 1}) == {"b": 6}
    assert dr2.cache.hits() == {"a": 1}
    assert dr2.cache.misses() == {"b": 1}


# -- formats -----------------------------------------------------------------------------


def test_json_format_writes_a_json_file_and_reads_it_back(tmp_path: Path) -> None:
    flow = _module(
        tmp_path,
        "flow_json",
        """
        from asyncdag.function_modifiers import cache

        CALLS = []

        @cache(format="json")
        def stats(x: int) -> dict:
            CALLS.append(1)
            return {"x": x, "items": [1, 2, 3]}

        @cache(format="json")
        def not_json(x: int) -> dict:
            CALLS.append(2)
            return {1: "int keys do not survive JSON"}
        """,
    )
    cache_dir = tmp_path / "cache"
    first = build(cache_dir, flow).execute(["stats", "not_json"], inputs={"x": 2})
    files = list((cache_dir / "results").rglob("*.json"))
    assert len(files) == 1 and b'"items"' in files[0].read_bytes()
    fresh_process()
    assert build(cache_dir, flow).execute(["stats", "not_json"], inputs={"x": 2}) == first
    assert sorted(flow.CALLS) == [1, 2]


def test_dataframe_formats(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    formats = ["csv"]
    if importlib.util.find_spec("pyarrow") is not None:
        formats += ["parquet", "feather", "orc"]
    for fmt in formats:
        flow = _module(
            tmp_path,
            f"flow_{fmt}",
            f"""
            import pandas as pd
            from asyncdag.function_modifiers import cache

            CALLS = []

            @cache(format="{fmt}")
            def frame(n: int) -> pd.DataFrame:
                CALLS.append(n)
                return pd.DataFrame({{"a": list(range(n)), "b": [float(i) / 2 for i in range(n)]}})
            """,
        )
        cache_dir = tmp_path / f"cache_{fmt}"
        first = build(cache_dir, flow).execute(["frame"], inputs={"n": 5})["frame"]
        assert list((cache_dir / "results").rglob(f"*.{fmt}")), fmt
        fresh_process()
        again = build(cache_dir, flow).execute(["frame"], inputs={"n": 5})["frame"]
        pd.testing.assert_frame_equal(first, again)
        assert flow.CALLS == [5], fmt


# -- the dr.cache API --------------------------------------------------------------------


def test_logs_run_ids_and_data_versions(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    dr = build(tmp_path)
    with caplog.at_level(logging.DEBUG, logger="asyncdag.caching"):  # records debug events too
        dr.execute(["joined"], inputs={"x": 3})
    dr.execute(["joined"], inputs={"x": 3})
    first, second = dr.cache.run_ids[-2:]
    assert dr.cache.last_run_id == second
    info = dr.cache.logs(run_id=first)
    assert [e.event_type for e in info["joined"]] == [CachingEventType.EXECUTE_NODE]
    assert [e.event_type for e in dr.cache.logs(run_id=second)["joined"]] == [
        CachingEventType.GET_RESULT
    ]
    assert str(dr.cache.logs(run_id=second)["base"][0]) == "base::result_store::get_result::hit"
    debug = dr.cache.logs(run_id=first, level="debug")
    assert CachingEventType.SET_RESULT in {e.event_type for e in debug["joined"]}
    assert set(dr.cache.logs()) >= {first, second}
    versions = dr.cache.data_versions
    assert versions[first]["joined"] == versions[second]["joined"]
    assert versions[first]["base"] == dr.cache.version_data(30)
    dr.cache.flush(10)  # the second run stored nothing: its id was not waited for
    assert dr.cache.metadata_store.get_run_ids()[-2:] == [first, second]
    stored = dr.cache.metadata_store.get_run(first)
    assert {e["node_name"] for e in stored} == {"base", "left", "right", "joined"}
    joined = next(e for e in stored if e["node_name"] == "joined")
    assert dr.cache.result_store.get(joined["data_version"]) == {"left": 31, "right": 60}
    key = dr.cache.make_cache_key("left", {"base": versions[first]["base"]})
    assert dr.cache.metadata_store.get(key) == versions[first]["left"]


def test_info_logging_names_hits_and_executions(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dr = build(tmp_path)
    with caplog.at_level(logging.INFO, logger="asyncdag.caching"):
        dr.execute(["left"], inputs={"x": 1})
        dr.execute(["left"], inputs={"x": 1})
    lines = [r.getMessage() for r in caplog.records if r.name == "asyncdag.caching"]
    assert "base::adapter::execute_node" in lines
    assert "left::result_store::get_result::hit" in lines


def test_log_to_file_appends_json_lines(tmp_path: Path) -> None:
    dr = build(tmp_path, log_to_file=True)
    dr.execute(["left"], inputs={"x": 1})
    dr.cache.flush(10)
    text = (tmp_path / "cache_logs.jsonl").read_text()
    assert '"event_type": "execute_node"' in text and '"node_name": "left"' in text


def test_cache_adapter_is_hamiltons_adapter_name() -> None:
    from asyncdag.caching.adapter import HamiltonCacheAdapter

    assert HamiltonCacheAdapter is CacheAdapter


def test_every_hit_read_from_the_database_when_nothing_is_kept_in_memory(tmp_path: Path) -> None:
    # memory_bytes=0: no result stays in memory, so each hit is read (async nodes through the
    # reader thread, sync ones on their thread); expander parts and packs alike
    outputs = ["lengths", "shout", "joined", "grid_total", "found"]
    inputs = {
        "text": " ".join(f"w{i}" for i in range(1500)),
        "x": 2,
        "rows": [[1, 2], [3]],
        "names": ["ann", "nobody"],
    }
    first = build(tmp_path, memory_bytes=0).execute(outputs, inputs=inputs)
    calls()
    for _ in range(2):
        fresh_process()
        assert build(tmp_path, memory_bytes=0).execute(outputs, inputs=inputs) == first
        assert calls() == {}


async def test_a_cancelled_run_keeps_what_finished(tmp_path: Path) -> None:
    flow = _module(
        tmp_path,
        "flow_cancel",
        """
        import asyncio

        from asyncdag.htypes import Collect, Parallelizable

        RAN = []
        GATE = {}


        def item(n: int) -> Parallelizable[int]:
            yield from range(n)


        async def work(item: int) -> int:
            if item >= 5:
                await GATE["open"].wait()  # items 5.. wait until the test lets them go
            RAN.append(item)
            if len(RAN) == 5:
                GATE["five"].set()
            return item * 2


        def total(work: Collect[int]) -> int:
            return sum(work)
        """,
    )
    dr = build(tmp_path / "c", flow)
    flow.GATE["open"], flow.GATE["five"] = asyncio.Event(), asyncio.Event()
    run = asyncio.ensure_future(dr.aexecute(["total"], inputs={"n": 8}))
    with anyio.fail_after(10):
        await flow.GATE["five"].wait()  # the first five have finished, the rest wait
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
    assert sorted(flow.RAN) == [0, 1, 2, 3, 4]
    dr.cache.flush(10)
    flow.RAN.clear()
    flow.GATE["open"].set()
    with anyio.fail_after(10):
        assert await dr.aexecute(["total"], inputs={"n": 8}) == {"total": 56}
    assert sorted(flow.RAN) == [5, 6, 7]


def test_an_expander_overridden_with_a_list_keys_its_items_by_their_values(tmp_path: Path) -> None:
    dr = build(tmp_path)
    assert dr.execute(["lengths"], overrides={"words": ["ab", "c"]}) == {"lengths": [2, 1]}
    assert calls() == {"length": 2, "lengths": 1}
    assert dr.execute(["lengths"], overrides={"words": ["c", "xyz"]}) == {"lengths": [1, 3]}
    assert calls() == {"length": 1, "lengths": 1}
