"""Collect delivers in yield order whatever the completion order; streaming collectors deliver
in yield or completion order while the expansion is still running; empty expansions give []."""

from __future__ import annotations

import types

import anyio
import pytest

from asyncdag import driver
from tests.dags_stream import (
    ordering_async,
    ordering_collectors,
    ordering_items,
    ordering_sync,
    stream_early,
    stream_partial,
)
from tests.dags_stream.probes import Chain, Gate

pytestmark = pytest.mark.anyio


def _driver(block: types.ModuleType, window: int | None = None) -> driver.Driver:
    builder = driver.Builder().with_modules(ordering_items, block, ordering_collectors)
    if window is not None:
        builder = builder.with_window(window)
    return builder.build()


def _id(module: types.ModuleType) -> str:
    return module.__name__.rsplit(".", 1)[-1]


@pytest.mark.parametrize("block", [ordering_async, ordering_sync], ids=_id)
@pytest.mark.parametrize("output", ["in_yield_order", "streamed", "streamed_sync", "finished"])
async def test_items_finishing_in_reverse_are_delivered_in_yield_order(
    block: types.ModuleType, output: str
) -> None:
    # Item i waits for item i+1: they finish n-1, n-2, ..., 0 (or the run hangs).
    n = 8
    chain = Chain(reversed(range(n)))
    async with _driver(block) as dr:
        with anyio.fail_after(5):
            result = await dr.aexecute([output], inputs={"n": n, "chain": chain})
    assert chain.finished == list(reversed(range(n)))
    assert result == {output: [i * 10 for i in range(n)]}


@pytest.mark.parametrize("output", ["as_completed", "as_completed_sync"])
async def test_collect_as_completed_delivers_in_completion_order(output: str) -> None:
    order = [3, 0, 4, 1, 2, 6, 5]
    chain = Chain(order)
    async with _driver(ordering_async) as dr:
        with anyio.fail_after(5):
            result = await dr.aexecute([output], inputs={"n": len(order), "chain": chain})
    assert chain.finished == order
    assert result == {output: [i * 10 for i in order]}


async def test_every_collector_of_one_expansion_in_one_run() -> None:
    order = [2, 4, 0, 1, 3]
    chain = Chain(order)
    outputs = ["finished", "in_yield_order", "streamed", "streamed_sync", "as_completed"]
    async with _driver(ordering_async) as dr:
        with anyio.fail_after(5):
            result = await dr.aexecute(outputs, inputs={"n": 5, "chain": chain})
    assert result == ordering_collectors._reference(5, order)


@pytest.mark.parametrize(
    "output", ["in_yield_order", "streamed", "streamed_sync", "as_completed", "finished"]
)
async def test_an_empty_expansion_collects_an_empty_list(output: str) -> None:
    async with _driver(ordering_async) as dr:
        with anyio.fail_after(5):
            result = await dr.aexecute([output], inputs={"n": 0, "chain": Chain([])})
    assert result == {output: []}


def test_an_empty_expansion_under_execute() -> None:
    with _driver(ordering_sync) as dr:
        result = dr.execute(
            ["in_yield_order", "streamed_sync"], inputs={"n": 0, "chain": Chain([])}
        )
    assert result == {"in_yield_order": [], "streamed_sync": []}


@pytest.mark.parametrize("collector", ["running_sum", "running_sum_sync"])
async def test_a_streaming_collector_consumes_while_the_generator_runs(collector: str) -> None:
    # The generator waits after item 0 until the collector has received a value.
    gate = Gate("collector received item 0")
    async with driver.Builder().with_modules(stream_early).build() as dr:
        with anyio.fail_after(5):
            result = await dr.aexecute([collector], inputs={"n": 6, "gate": gate})
    assert result == {collector: stream_early._reference(6)}


@pytest.mark.parametrize("output", ["streamed", "streamed_sync", "as_completed_sync"])
async def test_streams_longer_than_the_window(output: str) -> None:
    # A stream of many items through a small window: credits flow back as values are taken.
    n = 2_000
    async with _driver(ordering_sync, window=4) as dr:
        with anyio.fail_after(20):
            result = await dr.aexecute([output], inputs={"n": n, "chain": _NoChain()})
    values = result[output]
    if output.startswith("as_completed"):
        values = sorted(values)
    assert values == [i * 10 for i in range(n)]


class _NoChain(Chain):
    """A chain that lets every item finish at once."""

    def __init__(self) -> None:
        super().__init__([])

    def finish_sync(self, i: int) -> None:
        pass


@pytest.mark.parametrize(
    ("collector", "with_list"),
    [("first_three", False), ("first_three_sync", True), ("never_iterates", True)],
)
async def test_a_streaming_collector_that_stops_early_does_not_stall_the_run(
    collector: str, with_list: bool
) -> None:
    # "Take the first results and stop" (or ignore the stream): once the collector has
    # returned, the items it left must not keep the window full, or the generator (100 items
    # through a window of 4) never finishes and the run never ends.
    outputs = [collector, "everything"] if with_list else [collector]
    builder = driver.Builder().with_modules(stream_partial).with_window(4)
    async with builder.build() as dr:
        with anyio.fail_after(2):
            result = await dr.aexecute(outputs, inputs={"n": 100})
    expected = stream_partial._reference(100)
    assert result == {k: expected[k] for k in outputs}
