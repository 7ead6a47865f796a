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


def _inputs(
    depth: int | None = None, max_items: int | None = None, order: str = "breadth"
) -> dict[str, Any]:
    return {
        "root": "/",
        "site": SITE,
        "depth": depth,
        "max_items": max_items,
        "probe": {},
        "order": order,
    }


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


@pytest.mark.parametrize("order", ["breadth", "depth"])
@pytest.mark.parametrize("executor", ["default", "inline", "threads", "processes"])
@pytest.mark.parametrize("depth", [None, 0, 1, 2])
def test_every_page_is_crawled_once_within_the_depth(
    executor: str, depth: int | None, order: str, processes: Any
) -> None:
    ex = _executor(executor, processes)
    b = driver.Builder().with_modules(links)
    if ex is not None:
        b = b.with_remote_executor(ex)
    dr = b.build()
    result = dr.execute(["crawled", "url"], inputs=_inputs(depth, order=order))
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


# -- the order in which waiting items go out -------------------------------------------------


def _chain_site(chain: int = 6, leaves: int = 5) -> dict[str, list[str]]:
    """``/`` links to the head of a chain of ``chain`` pages, each linking to the next, and
    to ``/wide`` (``leaves`` pages, each a dead end)."""
    site: dict[str, list[str]] = {"/": ["/c0", "/wide"], "/wide": []}
    site["/wide"] = [f"/w{i}" for i in range(leaves)]
    for i in range(leaves):
        site[f"/w{i}"] = []
    for i in range(chain):
        site[f"/c{i}"] = [f"/c{i + 1}"] if i + 1 < chain else []
    return site


def _serial_order(site: dict[str, list[str]], order: str) -> list[str]:
    """The order one-at-a-time dispatch takes: the first found (breadth) or the deepest
    waiting, first found among equals (depth)."""
    seen, out = {"/"}, []
    waiting: list[tuple[str, int, int]] = [("/", 0, 0)]  # (page, depth, arrival)
    arrived = 1
    while waiting:
        if order == "breadth":
            page, d, _ = waiting.pop(0)
        else:
            best = min(waiting, key=lambda w: (-w[1], w[2]))
            waiting.remove(best)
            page, d, _ = best
        out.append(page)
        for q in site[page]:
            if q not in seen:
                seen.add(q)
                waiting.append((q, d + 1, arrived))
                arrived += 1
    return out


@pytest.mark.parametrize("order", ["breadth", "depth"])
def test_one_item_at_a_time_goes_out_in_the_frontiers_order(order: str) -> None:
    site = _chain_site()
    dr = (
        driver.Builder()
        .with_modules(links)
        .with_remote_executor(executors.AsyncioExecutor(max_tasks=1))
        .build()
    )
    probe: dict[str, Any] = {}
    inputs = {**_inputs(order=order), "site": site, "probe": probe}
    result = dr.execute(["crawled"], inputs=inputs)
    assert result["crawled"] == sorted(site)
    assert probe["started"] == _serial_order(site, order)
    assert probe["most"] == 1
    started = probe["started"]
    if order == "depth":  # the chain runs to its end before the page found beside its head
        assert started.index("/c5") < started.index("/wide")
    else:  # level by level: the chain advances one page per level
        assert started.index("/c2") > started.index("/w4")
    dr.close()


def test_the_piece_takes_the_deepest_waiting_item_first_among_equals_the_first_found() -> None:
    from asyncdag.execution._frontier import Frontier

    frontier = Frontier(order="depth")
    for number, depth in ((0, 0), (1, 1), (2, 2)):
        frontier.started(number, depth)
    frontier.feed(0, ["a1", "a2"])  # depth 1
    frontier.feed(2, ["c1", "c2"])  # depth 3
    frontier.feed(1, ["b1", "a1"])  # depth 2; a1 was seen
    assert frontier.waiting == 5
    taken = [frontier.take() for _ in range(5)]
    assert taken == [("c1", 3), ("c2", 3), ("b1", 2), ("a1", 1), ("a2", 1)]
    assert frontier.take() is None and frontier.waiting == 0

    breadth = Frontier()
    breadth.started(0, 0)
    breadth.started(1, 2)
    breadth.feed(1, ["deep"])
    breadth.feed(0, ["shallow"])
    assert [breadth.take(), breadth.take(), breadth.take()] == [("deep", 3), ("shallow", 1), None]


def test_an_unknown_order_is_refused() -> None:
    from asyncdag.htypes import Frontier

    with pytest.raises(ValueError, match="order must be 'breadth' or 'depth'"):
        Frontier(["/"], order="random")
