"""Property-based: random dataflows with nested expanders run the same on every executor as a
plain sequential reference evaluator says they should.

A generated dataflow is a tree of scopes. Each scope holds, in order, standard nodes, expanders
(which open a child scope holding their block) and collectors (which collect nodes of a child
scope as a list, a stream in yield order or a stream in completion order). Every node computes
an integer from its inputs; functions are randomly sync or async; expanders are sync or async
generators, lists, async iterables or plain iterators. The reference evaluator walks the spec
directly (it never calls the generated functions): for each expander it iterates the items,
evaluates the block once per item, and collects lists. The generator, the module source and
the reference live in ``tests/property_dataflows.py`` (shared with the fault-injection
property of ``test_property_faults.py``).
"""

from __future__ import annotations

import types
from typing import Any

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyncdag import driver
from asyncdag.execution import executors, grouping
from tests.property_dataflows import Spec, _fold, build_module, dataflows, evaluate

# -- the property ---------------------------------------------------------------------------


def _builders(module: types.ModuleType, window: int, strategy: Any) -> dict[str, Any]:
    base = (
        driver.Builder().with_modules(module).with_window(window).with_grouping_strategy(strategy)
    )
    inline = executors.SynchronousLocalTaskExecutor()
    threads = executors.MultiThreadingExecutor(max_tasks=4)
    return {
        "inline": base.copy().with_local_executor(inline).with_remote_executor(inline),
        "threads": base.copy().with_local_executor(threads).with_remote_executor(threads),
        "asyncio": base.copy(),
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    flow=dataflows(),
    inputs=st.fixed_dictionaries({"x": st.integers(0, 30), "y": st.integers(0, 30)}),
    window=st.sampled_from([1, 2, 1024]),
    strategy=st.sampled_from(
        [grouping.GroupByRepeatableBlocks(), grouping.GroupNodesIndividually()]
    ),
)
def test_random_dataflows_match_the_reference(
    flow: tuple[list[Spec], list[str]], inputs: dict[str, int], window: int, strategy: Any
) -> None:
    body, outputs = flow
    reference = evaluate(body, dict(inputs))
    expected = {name: reference.get(name, inputs.get(name)) for name in outputs}
    module = build_module(body)
    builders = _builders(module, window, strategy)

    async def run_all() -> dict[str, dict[str, Any]]:
        results = {}
        for label, builder in builders.items():
            async with builder.build() as dr:
                with anyio.fail_after(10):
                    results[label] = await dr.aexecute(outputs, inputs=inputs)
        return results

    results = anyio.run(run_all)
    with builders["asyncio"].build() as dr:
        results["execute"] = dr.execute(outputs, inputs=inputs)
    for label, result in results.items():
        assert result == expected, f"{label} differs from the reference\n{module.__source__}"


def test_the_reference_evaluator_on_a_hand_written_spec() -> None:
    # x=2: e1 yields (2 % 3) = 2 items: [2, 9]; n2 = item + 1; c3 folds [3, 10].
    n2 = Spec("n2", "std", False, ["e1"], [1], 1)
    e1 = Spec("e1", "expand", False, ["x"], [1], 0, max_items=2, body=[n2])
    c3 = Spec("c3", "collect", True, [], [], 0, collects=[("n2", "list")])
    out = evaluate([e1, c3], {"x": 2, "y": 0})
    assert out == {"n2": [3, 10], "c3": _fold([3, 10])}
    with driver.Builder().with_modules(build_module([e1, c3])).build() as dr:
        assert dr.execute(["c3", "n2"], inputs={"x": 2}) == {"c3": _fold([3, 10]), "n2": [3, 10]}
