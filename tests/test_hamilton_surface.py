"""Hamilton's driver surface on asyncdag, compared with Hamilton where Hamilton can run it.

Result builders and graph adapters, the legacy constructor, outputs given as functions,
``Variable`` fields, tag filters, graph queries, cycles refused per request, pickling,
``export_execution``, errors catchable by their own type, the async driver, ``ad_hoc_utils``,
the ``function_modifiers`` submodule paths, data-quality tag names, grouping and plugin names.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import pickle
import sys
import threading
import types
from typing import Any

import pandas as pd
import pytest
from hamilton import base as h_base
from hamilton import driver as h_driver
from hamilton import function_modifiers as h_fm

from asyncdag import ad_hoc_utils, async_driver, base, driver, function_modifiers
from asyncdag.errors import (
    CycleError,
    ExecutionRequestError,
    GraphError,
    MissingInputError,
    NodeExecutionError,
    UnknownOutputError,
)
from asyncdag.execution import executors, grouping
from asyncdag.htypes import Collect, Parallelizable
from tests.hamilton_scripts.shared import surface_dag


def module_of(fm: types.ModuleType, name: str) -> types.ModuleType:
    """The shared dataflow as a module whose decorators come from ``fm``."""
    module = types.ModuleType(name)
    for fn_name, fn in surface_dag.make(fm).items():
        fn.__module__ = name
        fn.__qualname__ = fn_name
        setattr(module, fn_name, fn)
    sys.modules[name] = module
    return module


@pytest.fixture(scope="module")
def pair() -> tuple[driver.Driver, h_driver.Driver]:
    ours = driver.Builder().with_modules(module_of(function_modifiers, "surface_ours")).build()
    theirs = h_driver.Builder().with_modules(module_of(h_fm, "surface_theirs")).build()
    return ours, theirs


INPUTS = {"raw": [3, -1, 4, 1], "title": "mean"}


def names(variables: Any) -> list[str]:
    return sorted(v.name for v in variables)


# -- result builders --------------------------------------------------------------------------


SERIES = {"a": pd.Series([1, 2, 3]), "b": pd.Series([4, 5, 6], index=[1, 2, 3])}


@pytest.mark.parametrize(
    "outputs",
    [
        SERIES,
        {"a": pd.Series([1, 2]), "k": 7},
        {"x": 1, "y": "z"},
        {"df": pd.DataFrame({"p": [1, 2]}), "s": pd.Series([3, 4])},
        {"df": pd.DataFrame({"p": [1, 2]})},
    ],
)
def test_pandas_result_builds_the_frame_hamilton_builds(outputs: dict[str, Any]) -> None:
    ours = base.PandasDataFrameResult.build_result(**outputs)
    theirs = h_base.PandasDataFrameResult.build_result(**outputs)
    pd.testing.assert_frame_equal(ours, theirs)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # numpy.matrix itself
def test_strict_and_numpy_builders() -> None:
    with pytest.raises(ValueError, match="index types differ"):
        base.StrictIndexTypePandasDataFrameResult.build_result(
            a=pd.Series([1], index=pd.to_datetime(["2024-01-01"])), b=pd.Series([1])
        )
    ours = base.NumpyMatrixResult.build_result(a=[1, 2], b=3)
    theirs = h_base.NumpyMatrixResult.build_result(a=[1, 2], b=3)
    assert (ours == theirs).all()
    assert base.DictResult.build_result(a=1) == {"a": 1}


def _series_module() -> types.ModuleType:
    def doubled(values: pd.Series) -> pd.Series:
        return values * 2

    def total(doubled: pd.Series) -> int:
        return int(doubled.sum())

    return ad_hoc_utils.create_temporary_module(doubled, total)


def test_a_result_builder_shapes_execute_and_aexecute() -> None:
    module = _series_module()
    values = pd.Series([1, 2])
    dr = driver.Builder().with_modules(module).with_adapters(base.PandasDataFrameResult()).build()
    df = dr.execute(["doubled", "total"], inputs={"values": values})
    assert isinstance(df, pd.DataFrame) and list(df.columns) == ["doubled", "total"]
    assert asyncio.run(dr.aexecute(["doubled"], inputs={"values": values})).equals(
        pd.DataFrame({"doubled": [2, 4]})
    )
    legacy = (
        driver.Builder()
        .with_modules(module)
        .with_adapter(base.SimplePythonGraphAdapter(base.DictResult()))
    )
    assert legacy.build().execute(["total"], inputs={"values": values}) == {"total": 6}


def test_the_legacy_constructor_returns_a_frame_unless_told_otherwise() -> None:
    module = _series_module()
    values = pd.Series([1, 2])
    df = driver.Driver({}, module).execute(["doubled"], inputs={"values": values})
    assert isinstance(df, pd.DataFrame)
    as_dict = driver.Driver({}, module, adapter=base.DefaultAdapter())
    assert as_dict.execute(["total"], inputs={"values": values}) == {"total": 6}
    with pytest.raises(GraphError, match="2 result builders"):
        driver.Driver({}, module, adapter=[base.DictResult(), base.PandasDataFrameResult()])


def test_outputs_may_be_functions_or_variables() -> None:
    module = _series_module()
    dr = driver.Builder().with_modules(module).build()
    values = pd.Series([1, 2])
    assert dr.execute([module.total], inputs={"values": values}) == {"total": 6}
    total = next(v for v in dr.list_available_variables() if v.name == "total")
    assert dr.execute([total], inputs={"values": values}) == {"total": 6}

    def stranger() -> int:
        return 1

    with pytest.raises(UnknownOutputError, match="not a node of this driver"):
        dr.execute([stranger])
    with pytest.raises(ExecutionRequestError, match="list of outputs"):
        dr.execute("total")  # type: ignore[arg-type]


# -- variables, tags, queries -----------------------------------------------------------------


def test_variables_have_hamilton_s_fields(pair: tuple[driver.Driver, h_driver.Driver]) -> None:
    ours, theirs = pair

    def fields(dr: Any) -> dict[str, Any]:
        return {
            v.name: (
                v.is_external_input,
                v.documentation or "",
                sorted(v.required_dependencies),
                sorted(v.optional_dependencies),
                dict(v.optional_dependencies_default_values),
                None if not v.originating_functions else v.originating_functions[0].__name__,
                {k: t for k, t in v.tags.items() if k != "module"},
            )
            for v in dr.list_available_variables()
        }

    assert fields(ours) == fields(theirs)
    total = next(v for v in ours.list_available_variables() if v.name == "total")
    assert total.version is not None and total.as_dict()["optional_dependencies"] == ["offset"]


@pytest.mark.parametrize(
    "query",
    [
        {"owner": ["ada", "cy"]},
        {"owner": "bob"},
        {"layer": "clean"},
        {"layer": ["report", "raw"]},
        {"owner": None},
        {"owner": "ada", "layer": "raw"},
        {"owner": "nobody"},
    ],
)
def test_tag_filters_match_as_hamilton_s(
    pair: tuple[driver.Driver, h_driver.Driver], query: dict[str, Any]
) -> None:
    ours, theirs = pair
    assert names(ours.list_available_variables(tag_filter=query)) == names(
        theirs.list_available_variables(tag_filter=query)
    )


@pytest.mark.parametrize("bad", [{"owner": 1}, {"owner": []}, {"owner": ["a", 2]}])
def test_an_invalid_tag_query_is_refused(
    pair: tuple[driver.Driver, h_driver.Driver], bad: dict[str, Any]
) -> None:
    ours, theirs = pair
    if bad != {"owner": ["a", 2]}:  # Hamilton lets a list with a non-string through
        with pytest.raises(ValueError):
            theirs.list_available_variables(tag_filter=bad)
    with pytest.raises(ExecutionRequestError, match="invalid tag_filter") as info:
        ours.list_available_variables(tag_filter=bad)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("query", "args"),
    [
        ("what_is_downstream_of", ("cleaned",)),
        ("what_is_downstream_of", ("raw",)),
        ("what_is_downstream_of", ("count", "side")),
        ("what_is_upstream_of", ("mean",)),
        ("what_is_upstream_of", ("report", "side")),
        ("what_is_the_path_between", ("cleaned", "mean")),
        ("what_is_the_path_between", ("raw", "report")),
        ("what_is_the_path_between", ("side", "report")),
    ],
)
def test_graph_queries_answer_as_hamilton_s(
    pair: tuple[driver.Driver, h_driver.Driver], query: str, args: tuple[str, ...]
) -> None:
    ours, theirs = pair
    assert names(getattr(ours, query)(*args)) == names(getattr(theirs, query)(*args))


def test_unknown_names_in_queries_are_request_errors(
    pair: tuple[driver.Driver, h_driver.Driver],
) -> None:
    ours, _ = pair
    with pytest.raises(UnknownOutputError) as info:
        ours.what_is_the_path_between("cleaned", "nope")
    assert isinstance(info.value, ValueError)
    with pytest.raises(UnknownOutputError):
        ours.what_is_downstream_of("nope")


def test_export_execution_lists_what_hamilton_lists(
    pair: tuple[driver.Driver, h_driver.Driver],
) -> None:
    ours, theirs = pair
    mine = json.loads(ours.export_execution(["report"], inputs=INPUTS))
    hamilton = json.loads(theirs.export_execution(["report"], inputs=INPUTS))
    assert [n["name"] for n in mine["nodes"]] == [n["name"] for n in hamilton["nodes"]]
    by_name = {n["name"]: n for n in mine["nodes"]}
    assert by_name["total"]["optional_dependencies"] == ["offset"]
    assert "def total" in by_name["total"]["source"]
    with pytest.raises(MissingInputError):
        ours.export_execution(["report"])


# -- cycles -------------------------------------------------------------------------------------


def _cyclic() -> types.ModuleType:
    def a(c: int) -> int:
        return c + 1

    def b(a: int) -> int:
        return a * 2

    def c(b: int) -> int:
        return b - 1

    def fine(x: int) -> int:
        return x + 100

    def after(b: int) -> int:
        return b

    return ad_hoc_utils.create_temporary_module(a, b, c, fine, after)


def test_a_cycle_is_refused_only_by_the_requests_that_need_it() -> None:
    module = _cyclic()
    dr = driver.Builder().with_modules(module).build()  # Hamilton builds it too
    h_driver.Builder().with_modules(module).build()
    assert dr.execute(["fine"], inputs={"x": 1}) == {"fine": 101}
    with pytest.raises(CycleError) as info:
        dr.execute(["after"])
    assert info.value.cycle == ("a", "b", "c", "a")
    assert "a -> b -> c -> a" in str(info.value)
    assert dr.has_cycles(["after"]) and not dr.has_cycles(["fine"]) and dr.has_cycles()
    # an override cuts the loop
    assert dr.execute(["after", "c"], overrides={"a": 5}) == {"after": 10, "c": 9}
    # the picture still shows every node
    picture = dr.display_all_functions()
    assert all(f'"{n}"' in picture for n in "abc")


# -- pickling, errors, async driver -----------------------------------------------------------


def test_a_driver_pickles_and_runs_where_it_lands() -> None:
    module = _series_module()  # a temporary module: its functions travel by value
    dr = driver.Builder().with_modules(module).with_adapters(base.DictResult()).build()
    again = pickle.loads(pickle.dumps(dr))
    assert again.execute(["total"], inputs={"values": pd.Series([1, 2])}) == {"total": 6}
    assert again is not dr and again.graph.order == dr.graph.order
    legacy = pickle.loads(pickle.dumps(driver.Driver({"k": 1}, module)))
    assert isinstance(legacy.execute(["doubled"], inputs={"values": pd.Series([1])}), pd.DataFrame)


def test_a_driver_with_state_that_cannot_travel_says_what() -> None:
    class Holding:
        def __init__(self) -> None:
            self.lock = threading.Lock()

        def build_result(self, **outputs: Any) -> Any:
            return outputs

    dr = driver.Builder().with_modules(_series_module()).with_adapters(Holding()).build()
    with pytest.raises(TypeError, match="adapters cannot be serialized"):
        pickle.dumps(dr)


def _raising() -> types.ModuleType:
    def item(n: int) -> Parallelizable[int]:
        yield from range(n)

    def looked_up(item: int, table: dict) -> int:
        return table[item]

    def gathered(looked_up: Collect[int]) -> list[int]:
        return looked_up

    return ad_hoc_utils.create_temporary_module(item, looked_up, gathered)


def test_a_node_s_exception_is_caught_by_its_own_type_and_still_names_the_node() -> None:
    dr = driver.Builder().with_modules(_raising()).build()
    with pytest.raises(KeyError) as info:
        dr.execute(["gathered"], inputs={"n": 3, "table": {0: 1, 1: 2}})
    err = info.value
    assert isinstance(err, NodeExecutionError) and err.node == "looked_up" and err.index == (2,)
    assert isinstance(err.__cause__, KeyError)


def test_request_errors_are_value_and_type_errors() -> None:
    dr = driver.Builder().with_modules(_raising()).build()
    with pytest.raises(ValueError):
        dr.execute(["gathered"])  # missing inputs
    with pytest.raises(ValueError):
        dr.execute(["nope"])
    with pytest.raises(TypeError):
        dr.execute(["gathered"], inputs={"n": "3", "table": {}})


def test_the_async_driver_awaits_execute_and_streams_parallelizable() -> None:
    """Hamilton's async driver cannot run Parallelizable blocks: compared with plain Python."""

    async def page(item: int) -> int:
        await asyncio.sleep(0)
        return item * item

    def item(n: int) -> Parallelizable[int]:
        yield from range(n)

    def pages(page: Collect[int]) -> list[int]:
        return page

    module = ad_hoc_utils.create_temporary_module(item, page, pages)

    async def main() -> tuple[Any, Any]:
        dr = await async_driver.Builder().with_modules(module).build()
        built = await dr.execute(["pages"], inputs={"n": 5})
        legacy = await async_driver.AsyncDriver(
            {}, module, result_builder=base.PandasDataFrameResult()
        ).ainit()
        return built, await legacy.execute(["pages"], inputs={"n": 2})

    built, frame = asyncio.run(main())
    assert built == {"pages": [i * i for i in range(5)]}  # the plain-Python oracle
    assert isinstance(frame, pd.DataFrame) and list(frame["pages"]) == [0, 1]


# -- ad hoc modules, modifier paths, tag names --------------------------------------------------


def test_temporary_modules_hold_copies() -> None:
    def one() -> int:
        return 1

    module = ad_hoc_utils.create_temporary_module(one, module_name="adhoc_one_module")
    assert module.one is not one and module.one.__module__ == "adhoc_one_module"
    assert one.__module__ != "adhoc_one_module"
    with pytest.raises(ValueError, match="already exists"):
        ad_hoc_utils.create_temporary_module(one, module_name="adhoc_one_module")

    def _hidden() -> int:
        return 0

    with pytest.raises(ValueError, match="starts with '_'"):
        ad_hoc_utils.create_temporary_module(_hidden)
    source = ad_hoc_utils.module_from_source("def two() -> int:\n    return 2\n")
    assert driver.Builder().with_modules(source).build().execute(["two"]) == {"two": 2}


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        ("expanders", ["parameterize", "extract_columns", "extract_fields", "inject"]),
        ("dependencies", ["source", "value", "group", "configuration", "LiteralDependency"]),
        ("macros", ["does", "pipe", "pipe_input", "pipe_output", "step", "mutate"]),
        ("metadata", ["tag", "tag_outputs", "schema", "ray_remote_options"]),
        ("configuration", ["config", "hamilton_exclude"]),
        ("delayed", ["resolve", "ResolveAt", "resolve_from_config"]),
        ("recursive", ["subdag", "parameterized_subdag"]),
        ("validation", ["check_output", "check_output_custom", "IS_DATA_VALIDATOR_TAG"]),
        ("adapters", ["load_from", "save_to", "dataloader", "datasaver"]),
        ("base", ["InvalidDecoratorException"]),
    ],
)
def test_function_modifier_paths_hold_hamilton_s_names(path: str, wanted: list[str]) -> None:
    ours = importlib.import_module(f"asyncdag.function_modifiers.{path}")
    theirs = importlib.import_module(f"hamilton.function_modifiers.{path}")
    for name in wanted:
        assert hasattr(theirs, name), f"hamilton.{path} has no {name}"
        assert hasattr(ours, name), f"asyncdag.function_modifiers.{path} has no {name}"


def test_parametrized_input_makes_hamilton_s_nodes() -> None:
    def make(fm: types.ModuleType, name: str) -> types.ModuleType:
        @fm.parametrized_input("x", {"a": ("from_a", "from a"), "b": ("from_b", "from b")})
        def plus_one(x: int) -> int:
            return x + 1

        plus_one.__module__ = name
        module = types.ModuleType(name)
        module.plus_one = plus_one  # type: ignore[attr-defined]
        sys.modules[name] = module
        return module

    ours = driver.Builder().with_modules(make(function_modifiers, "pi_ours")).build()
    theirs = h_driver.Builder().with_modules(make(h_fm, "pi_theirs")).build()
    request = ["from_a", "from_b"]
    assert ours.execute(request, inputs={"a": 1, "b": 5}) == theirs.execute(
        request, inputs={"a": 1, "b": 5}
    )


def test_validator_nodes_carry_hamilton_s_data_quality_tags() -> None:
    @function_modifiers.check_output(range=(0, 10))
    def score(x: int) -> int:
        return x

    dr = driver.Builder().with_modules(ad_hoc_utils.create_temporary_module(score)).build()
    found = [
        v
        for v in dr.list_available_variables()
        if v.tags.get("hamilton.data_quality.contains_dq_results")
    ]
    assert len(found) == 1
    tags = found[0].tags
    assert tags["hamilton.data_quality.source_node"] == "score"
    assert tags[function_modifiers.IS_DATA_VALIDATOR_TAG] is True


# -- grouping and plugin names ------------------------------------------------------------------


@pytest.mark.parametrize(
    "strategy",
    [
        grouping.GroupNodesAllAsOne(),
        grouping.GroupNodesByLevel(),
        grouping.GroupNodesIndividually(),
    ],
)
def test_hamilton_s_grouping_names_run_the_same(strategy: grouping.GroupingStrategy) -> None:
    dr = (
        driver.Builder()
        .with_modules(_raising())
        .with_grouping_strategy(strategy)
        .with_remote_executor(executors.MultiThreadingExecutor(max_tasks=2))
        .build()
    )
    with dr:
        assert dr.execute(["gathered"], inputs={"n": 3, "table": {0: 5, 1: 6, 2: 7}}) == {
            "gathered": [5, 6, 7]
        }


def test_plugin_names_are_asyncdag_s_executors() -> None:
    from asyncdag.plugins import dask as a_dask
    from asyncdag.plugins import h_dask, h_ray, h_threadpool
    from asyncdag.plugins import ray as a_ray

    assert h_dask.DaskExecutor is a_dask.DaskExecutor
    assert issubclass(h_ray.RayTaskExecutor, a_ray.RayExecutor)
    adapter = h_threadpool.FutureAdapter(max_workers=3, result_builder=base.DictResult())
    assert isinstance(adapter.local_executor, executors.MultiThreadingExecutor)
