"""Scopes and blocks: nesting, several collectors, several Collect parameters, broadcast outer
values, in-block outputs, overrides, and the scope errors reported at build time."""

from __future__ import annotations

import textwrap
import types

import anyio
import pandas as pd
import pytest

from asyncdag import driver
from asyncdag.errors import GraphError, ScopeError
from asyncdag.execution import executors
from tests.dags_stream import broadcast, chained, nested3, seed_multi_collect, two_collects
from tests.dags_stream.probes import Calls

pytestmark = pytest.mark.anyio


def _module(name: str, source: str) -> types.ModuleType:
    """A DAG module from source, for the small graphs that only have to fail at build."""
    module = types.ModuleType(f"tests.dags_stream.dynamic_{name}")
    exec(textwrap.dedent(source), module.__dict__)
    return module


# -- nesting ----------------------------------------------------------------------------------


async def test_three_nested_levels_match_the_reference() -> None:
    inputs = {"n_outer": 4, "n_middle": 3, "scale": 2}
    expected = nested3._reference(**inputs)
    async with driver.Builder().with_modules(nested3).build() as dr:
        with anyio.fail_after(10):
            result = await dr.aexecute(list(expected), inputs=inputs)
    assert result == expected


async def test_in_block_outputs_are_nested_lists_in_yield_order() -> None:
    inputs = {"n_outer": 3, "n_middle": 2, "scale": 1}
    async with driver.Builder().with_modules(nested3).build() as dr:
        with anyio.fail_after(10):
            result = await dr.aexecute(["leaf", "inner_sum", "outer_value"], inputs=inputs)
    # leaf is three levels deep: a list (outer) of lists (middle) of lists (inner)
    assert result["leaf"] == [
        [[0], [10, 11]],
        [[100], [110, 111], [120, 121, 122]],
        [[200], [210, 211]],
    ]
    assert result["inner_sum"] == [[0, 21], [100, 221, 363], [200, 421]]
    assert result["outer_value"] == nested3._reference(**inputs)["outer_value"]


async def test_empty_inner_expansions_give_empty_lists() -> None:
    inputs = {"n_outer": 2, "n_middle": 0, "scale": 1}  # outer 0 has no middle items, 1 has one
    expected = nested3._reference(**inputs)
    assert expected["leaf"] == [[], [[100]]]
    async with driver.Builder().with_modules(nested3).build() as dr:
        with anyio.fail_after(10):
            assert await dr.aexecute(list(expected), inputs=inputs) == expected


# -- several collectors, several Collect parameters ---------------------------------------------


@pytest.mark.parametrize("executor", ["default", "inline", "threads"])
def test_the_seeds_two_collector_example_works(executor: str) -> None:
    # The seed's "WILL NOT WORK" example: two collectors downstream of one Parallelizable.
    builder = driver.Builder().enable_dynamic_execution(allow_experimental_mode=True)
    builder = builder.with_modules(seed_multi_collect)
    if executor == "inline":
        builder = builder.with_remote_executor(executors.SynchronousLocalTaskExecutor())
    elif executor == "threads":
        builder = builder.with_remote_executor(executors.MultiThreadingExecutor(max_tasks=3))
    data = seed_multi_collect._example_data()
    with builder.build() as dr:
        ans = dr.execute(
            ["all_agg"], inputs={"full_data": data, "number": 3.1, "columns": ["region"]}
        )
    pd.testing.assert_frame_equal(ans["all_agg"], seed_multi_collect._reference(data, 3.1))


async def test_several_collect_parameters_from_one_and_from_two_expanders() -> None:
    inputs = {"n": 5, "letters": "abc", "sep": "-"}
    expected = two_collects._reference(**inputs)
    async with driver.Builder().with_modules(two_collects).build() as dr:
        with anyio.fail_after(10):
            assert await dr.aexecute(list(expected), inputs=inputs) == expected


async def test_collect_straight_on_an_expander_gives_its_items() -> None:
    inputs = {"seed": 1, "n": 6, "label": "x", "bonus": 0, "calls": Calls()}
    async with driver.Builder().with_modules(broadcast).build() as dr:
        with anyio.fail_after(10):
            result = await dr.aexecute(["items_seen"], inputs=inputs)
    assert result == {"items_seen": [0, 1, 2, 3, 4, 5]}


# -- broadcast outer values ----------------------------------------------------------------------


async def test_outer_nodes_read_by_every_item_are_computed_once() -> None:
    calls = Calls()
    inputs = {"seed": 3, "n": 25, "label": "t", "bonus": 7, "calls": calls}
    expected = broadcast._reference(3, 25, "t", 7)
    outputs = ["report", "scaled", "tagged", "summary"]
    async with driver.Builder().with_modules(broadcast).build() as dr:
        with anyio.fail_after(10):
            result = await dr.aexecute(outputs, inputs=inputs)
    assert result == {k: expected[k] for k in outputs}
    assert calls["base"] == 1
    assert calls["factor"] == 1
    assert calls["items"] == 1
    assert calls["scaled"] == 25
    assert calls["tagged"] == 25
    assert calls["summary"] == 1


async def test_a_block_reads_a_value_collected_from_another_expansion() -> None:
    calls = Calls()
    inputs = {"n": 4, "m": 3, "calls": calls}
    expected = chained._reference(4, 3)
    async with driver.Builder().with_modules(chained).build() as dr:
        with anyio.fail_after(10):
            result = await dr.aexecute(list(expected), inputs=inputs)
    assert result == expected
    assert calls["first_total"] == 1
    assert calls["offset"] == 1  # read two levels down, computed once
    assert calls["outer_k"] == 3  # read one level down, once per outer item


@pytest.mark.parametrize(
    "make", [executors.SynchronousLocalTaskExecutor, lambda: executors.MultiThreadingExecutor(2)]
)
async def test_broadcast_values_under_other_executors(make: object) -> None:
    calls = Calls()
    ex = make()  # type: ignore[operator]
    builder = driver.Builder().with_modules(chained).with_local_executor(ex)
    async with builder.with_remote_executor(ex).build() as dr:
        with anyio.fail_after(10):
            result = await dr.aexecute(
                ["all_leaves", "second_all"], inputs={"n": 3, "m": 4, "calls": calls}
            )
    expected = chained._reference(3, 4)
    assert result == {"all_leaves": expected["all_leaves"], "second_all": expected["second_all"]}
    assert calls["offset"] == 1


# -- overrides -------------------------------------------------------------------------------------


async def test_overriding_an_expander_with_a_list_fans_out_over_that_list() -> None:
    calls = Calls()
    inputs = {"seed": 2, "label": "o", "bonus": 1, "calls": calls}  # no "n": items is given
    expected = broadcast._reference(2, 0, "o", 1, items=[7, 3, 5])
    outputs = ["summary", "scaled", "items_seen"]
    async with driver.Builder().with_modules(broadcast).build() as dr:
        with anyio.fail_after(10):
            result = await dr.aexecute(outputs, inputs=inputs, overrides={"items": [7, 3, 5]})
    assert result == {k: expected[k] for k in outputs}
    assert calls["items"] == 0
    assert calls["scaled"] == 3


async def test_overriding_a_collector_skips_its_whole_block() -> None:
    calls = Calls()
    inputs = {"seed": 2, "calls": calls}  # n, label, bonus only feed the skipped block
    async with driver.Builder().with_modules(broadcast).build() as dr:
        with anyio.fail_after(10):
            result = await dr.aexecute(["report"], inputs=inputs, overrides={"summary": "given"})
    assert result == {"report": "given/3"}
    assert calls["items"] == 0
    assert calls["scaled"] == 0
    assert calls["tagged"] == 0
    assert calls["summary"] == 0
    assert calls["base"] == 0  # only the skipped nodes needed it


async def test_overriding_a_nested_expander_fans_out_once_at_the_top() -> None:
    # The given items no longer depend on any outer item: the block of `inner` runs once per
    # given item, and what it collects is one value shared by every middle item.
    given = [(0, 0, 1), (2, 1, 3)]
    inputs = {"n_outer": 2, "n_middle": 2, "scale": 1}
    inner_sum = sum(a * 100 + b * 10 + c for a, b, c in given)
    middle_values = [[inner_sum + j for j in range(2 + a % 2)] for a in range(2)]
    async with driver.Builder().with_modules(nested3).build() as dr:
        with anyio.fail_after(10):
            result = await dr.aexecute(
                ["leaf", "inner_sum", "middle_values", "total"],
                inputs=inputs,
                overrides={"inner": given},
            )
    assert result == {
        "leaf": [1, 213],
        "inner_sum": inner_sum,
        "middle_values": middle_values,
        "total": sum(sum(v) * (a + 1) for a, v in enumerate(middle_values)),
    }


def test_overrides_under_execute() -> None:
    calls = Calls()
    with driver.Builder().with_modules(broadcast).build() as dr:
        result = dr.execute(
            ["summary"],
            inputs={"seed": 1, "label": "e", "bonus": 0, "calls": calls},
            overrides={"items": (4, 4)},
        )
    assert result == {"summary": broadcast._reference(1, 0, "e", 0, items=[4, 4])["summary"]}
    assert calls["items"] == 0


# -- scope errors ----------------------------------------------------------------------------------

HEADER = "from asyncdag.htypes import Collect, CollectStream, Parallelizable\n"

BAD_SCOPES = {
    "two_expanders_mixed": """
        def a(n: int) -> Parallelizable[int]:
            yield from range(n)
        def b(n: int) -> Parallelizable[int]:
            yield from range(n)
        def both(a: int, b: int) -> int:
            return a + b
    """,
    "collect_outside_any_block": """
        def x(n: int) -> int:
            return n
        def c(x: Collect[int]) -> int:
            return sum(x)
    """,
    "collect_inside_its_own_block": """
        def a(n: int) -> Parallelizable[int]:
            yield from range(n)
        def y(a: int) -> int:
            return a
        def c(y: Collect[int], a: int) -> int:
            return sum(y) + a
    """,
    "collect_and_item_of_nested_block": """
        def a(n: int) -> Parallelizable[int]:
            yield from range(n)
        def b(a: int) -> Parallelizable[int]:
            yield from range(a)
        def y(a: int) -> int:
            return a
        def c(y: Collect[int], b: int) -> int:
            return sum(y) + b
    """,
    "stream_inside_another_block": """
        def a(n: int) -> Parallelizable[int]:
            yield from range(n)
        def x(n: int) -> Parallelizable[int]:
            yield from range(n)
        def y(a: int) -> int:
            return a
        async def c(y: CollectStream[int], x: int) -> int:
            return x + sum([v async for v in y])
    """,
}


@pytest.mark.parametrize("case", sorted(BAD_SCOPES))
def test_illegal_scope_crossings_fail_at_build(case: str) -> None:
    module = _module(case, HEADER + textwrap.dedent(BAD_SCOPES[case]))
    with pytest.raises(ScopeError) as info:
        driver.Builder().with_modules(module).build()
    assert isinstance(info.value, GraphError)
    offender = "both" if case == "two_expanders_mixed" else "c"
    assert repr(offender) in str(info.value)  # the message names the node to fix


STREAM_DEADLOCKS = {
    "stream_and_list_of_one_expansion": """
        def a(n: int) -> Parallelizable[int]:
            yield from range(n)
        def y(a: int) -> int:
            return a
        def z(a: int) -> int:
            return -a
        async def c(y: CollectStream[int], z: Collect[int]) -> int:
            return sum([v async for v in y]) + sum(z)
    """,
    "stream_waits_for_a_list_collector": """
        def a(n: int) -> Parallelizable[int]:
            yield from range(n)
        def y(a: int) -> int:
            return a
        def total(y: Collect[int]) -> int:
            return sum(y)
        async def c(y: CollectStream[int], total: int) -> int:
            return sum([v async for v in y]) + total
    """,
}


@pytest.mark.parametrize("case", sorted(STREAM_DEADLOCKS))
async def test_a_streaming_collector_that_could_never_flow_is_rejected_before_running(
    case: str,
) -> None:
    # With more items than the window, such a collector would wait for its own expansion to
    # finish while the expansion waits for it: the engine must refuse, not hang.
    module = _module(case, HEADER + textwrap.dedent(STREAM_DEADLOCKS[case]))
    try:
        dr = driver.Builder().with_modules(module).with_window(2).build()
    except ScopeError:
        return
    with pytest.raises(ScopeError):
        dr.validate_execution(["c"], inputs={"n": 10})
    with anyio.fail_after(5), pytest.raises(ScopeError):
        await dr.aexecute(["c"], inputs={"n": 10})
    await dr.aclose()
