"""Link-following expansion (htypes.Frontier / Discovered): an expander fed by its block."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from asyncdag import driver, errors
from asyncdag.execution import executors
from tests.dags_engine import links, links_bad, links_nested, links_skip, links_unhashable

pytestmark = pytest.mark.anyio

SITE = links.make_site()


def _inputs(depth: int | None = None, max_items: int | None = None) -> dict[str, Any]:
    return {"root": "/", "site": SITE, "depth": depth, "max_items": max_items, "probe": {}}


@pytest.fixture(scope="module")
def processes() -> Any:
    ex = executors.MultiProcessingExecutor(max_tasks=2)
    yield ex
    ex.close()


def _executor(name: str, processes: Any) -> executors.TaskExecutor | None:
    return {
        "default": lambda: None,
        "inline": executors.SynchronousLocalTaskExecutor,
        "threads": lambda: executors.MultiThreadingExecutor(max_tasks=3),
        "processes": lambda: processes,
    }[name]()


@pytest.mark.parametrize("executor", ["default", "inline", "threads", "processes"])
@pytest.mark.parametrize("depth", [None, 0, 1, 2])
def test_every_page_is_crawled_once_within_the_depth(
    executor: str, depth: int | None, processes: Any
) -> None:
    ex = _executor(executor, processes)
    b = driver.Builder().with_modules(links)
    if ex is not None:
        b = b.with_remote_executor(ex)
    dr = b.build()
    result = dr.execute(["crawled", "url"], inputs=_inputs(depth))
    expected = links.reference(SITE, depth)
    assert result["crawled"] == expected
    assert len(result["url"]) == len(expected)  # every item once, seeds and found alike
    if executor not in ("processes",):
        dr.close()


async def test_aexecute_and_astream_follow_links_too() -> None:
    dr = driver.Builder().with_modules(links).build()
    with anyio.fail_after(20):
        result = await dr.aexecute(["crawled"], inputs=_inputs(2))
        events = [e async for e in dr.astream(["page"], inputs=_inputs(2))]
    assert result["crawled"] == links.reference(SITE, 2)
    items = [e for e in events if e.kind == "item"]
    assert len(items) == len(links.reference(SITE, 2))
    assert len({e.index for e in items}) == len(items)


async def test_max_items_bounds_the_crawl() -> None:
    dr = driver.Builder().with_modules(links).build()
    with anyio.fail_after(20):
        result = await dr.aexecute(["crawled"], inputs=_inputs(None, max_items=7))
    assert len(result["crawled"]) == 7 and "/" in result["crawled"]


async def test_the_window_bounds_what_is_in_flight() -> None:
    inputs = _inputs()
    dr = driver.Builder().with_modules(links).with_window(2).build()
    with anyio.fail_after(20):
        result = await dr.aexecute(["crawled"], inputs=inputs)
    assert result["crawled"] == links.reference(SITE, None)
    assert inputs["probe"]["most"] <= 2


async def test_a_page_dropped_by_its_error_policy_finds_nothing() -> None:
    inputs = _inputs()
    inputs["probe"] = {"broken": {"/1"}}  # /1's subtree is reachable only through /1
    dr = driver.Builder().with_modules(links, links_skip).allow_module_overrides().build()
    with anyio.fail_after(20):
        result = await dr.aexecute(["crawled", "fetched"], inputs=inputs)
    below = [p for p in links.reference(SITE, None) if p.startswith("/1/")]
    # /1 was yielded, then skipped: out of every collector, and it found nothing
    assert "/1" not in result["crawled"] and not set(below) & set(result["crawled"])
    assert result["crawled"] == [p for p in links.reference(SITE, None) if p not in {"/1", *below}]
    assert result["fetched"] == len(result["crawled"])


def test_a_crawl_nested_in_a_block_runs_once_per_outer_item() -> None:
    small = links.make_site(fanout=2, levels=2)
    dr = driver.Builder().with_modules(links_nested).build()
    result = dr.execute(["per_site"], inputs={"sites": {"a": SITE, "b": small}, "depth": 1})
    assert result["per_site"] == [
        len(links.reference(SITE, 1)),
        len(links.reference(small, 1)),
    ]


def test_discovered_for_an_expander_that_is_not_a_frontier_is_refused_at_build() -> None:
    with pytest.raises(errors.ScopeError, match="Frontier"):
        driver.Builder().with_modules(links_bad).build()


async def test_an_unhashable_item_without_a_key_names_the_expander() -> None:
    dr = driver.Builder().with_modules(links_unhashable).build()
    with anyio.fail_after(10), pytest.raises(errors.NodeExecutionError) as info:
        await dr.aexecute(["count"], inputs={"n": 1})
    assert info.value.node == "item" and "hashable" in str(info.value)
