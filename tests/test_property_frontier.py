"""Property-based, with faults: link-following expansions (``htypes.Frontier``) of random
graphs, in both orders, flat and nested, fail, end items and are cancelled at random points
on every executor, and leave nothing behind.

Each example draws a graph (``links``: page -> the pages it links to, cycles, self-links and
duplicates included), one or two start pages (two: the crawl is nested in an outer block,
one crawl per start), the frontier's bounds (``max_depth``, ``max_items``) and order, a
window, and a fault mode:

- ``none``: no fault;
- ``deliver`` / ``skip``: some pages raise under ``on_error("deliver")`` / ``"skip"``: they
  end as an ``ItemFailure`` (or are left out) and find nothing;
- ``fail``: one page raises, or the ``links`` node of one page does, with no policy: the run
  fails with ``NodeExecutionError`` naming that node, the injected exception as its cause;
  unless the bounds kept the crawl from reaching it, when the run returns without it;
- ``cancel``: the run is cancelled (its task, or an anyio scope around it) at the n-th page
  call, and ends cancelled, or returns if it had finished.

Items are ``(page, depth)``, the depth the frontier gave them (``links`` hands a page's links
back one deeper), so whatever order the items took, a result that returns is checked exactly:
each page once; the start at depth 0; every other page at depth ``d`` linked from a page of
the crawl at ``d - 1`` that did not fail; no depth beyond ``max_depth``; at most ``max_items``
pages; and, unless ``max_items`` cut the crawl short, every link of a page that did not fail
and is above ``max_depth`` is in the crawl (nothing was lost or left waiting).

After every run: no task of the run left, no slot still taken, no pool thread busy, and once
the driver is closed no thread of its own left; on processes, the pool's workers alive. The
next run on the same driver, fault-free, returns the full crawl.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from asyncdag import driver
from asyncdag.errors import NodeExecutionError
from asyncdag.execution import executors
from asyncdag.htypes import ItemFailure
from tests.dags_engine import links_faults
from tests.dags_engine.links_faults import Injected, Site
from tests.test_property_faults import (
    HUNT,
    PROFILE,
    SHRINK_TIMEOUT,
    Outcome,
    Plan,
    Recorder,
    check_no_thread_left,
    check_slots_and_threads,
    quiet_loop,
    run_aexecute,
    run_execute,
)

IN_PROCESS = ("inline", "threads", "asyncio", "default", "execute")
MODES = ("none", "deliver", "skip", "fail", "cancel")
IN_PROCESS_EXAMPLES = 40 * max(1, HUNT)
PROCESS_EXAMPLES = 15 * max(1, HUNT)


# -- drawing an example ------------------------------------------------------------------------


@st.composite
def sites(draw: st.DrawFn, *, cancel: bool = True) -> tuple[Site, str, dict[str, Any]]:
    """A graph, its crawl's bounds and order, and a fault plan (mode, where, when)."""
    n = draw(st.integers(1, 14))
    pages = st.integers(0, n - 1)
    links = {p: tuple(draw(st.lists(pages, max_size=4))) for p in range(n)}
    starts = tuple(draw(st.lists(pages, min_size=1, max_size=2)))
    mode = draw(st.sampled_from(MODES if cancel else MODES[:-1]))
    fail_page: frozenset[int] = frozenset()
    fail_links: frozenset[int] = frozenset()
    plan: dict[str, Any] = {}
    if mode in ("deliver", "skip"):
        fail_page = frozenset(draw(st.sets(pages, max_size=3)))
    elif mode == "fail":
        where = draw(st.sampled_from(["page", "links"]))
        one = frozenset([draw(pages)])
        fail_page, fail_links = (one, frozenset()) if where == "page" else (frozenset(), one)
        plan["node"] = where
    elif mode == "cancel":
        plan["at"] = draw(st.integers(1, n * len(starts)))
        plan["how"] = draw(st.sampled_from(["task", "scope"]))
    site = Site(
        links,
        starts=starts,
        max_depth=draw(st.one_of(st.none(), st.integers(0, 4))),
        max_items=draw(st.one_of(st.none(), st.integers(0, n + 1))),
        order=draw(st.sampled_from(["breadth", "depth"])),
        fail_page=fail_page,
        fail_links=fail_links,
        yields=draw(st.integers(0, 2)),
    )
    return site, mode, plan


def _policy(mode: str) -> str:
    return mode if mode in ("deliver", "skip") else "raise"


def build(site: Site, mode: str, window: int, executor: Any) -> driver.Driver:
    b = (
        driver.Builder()
        .with_modules(links_faults)
        .with_config({"nested": len(site.starts) > 1, "policy": _policy(mode)})
        .with_window(window)
    )
    if executor is not None:
        b = b.with_remote_executor(executor)
    return b.build()


def _executor(label: str) -> Any:
    return {
        "inline": executors.SynchronousLocalTaskExecutor,
        "threads": lambda: executors.MultiThreadingExecutor(max_tasks=3),
        "asyncio": lambda: executors.AsyncioExecutor(max_tasks=2),
        "default": lambda: None,
        "execute": lambda: None,
    }[label]()


# -- the checks ----------------------------------------------------------------------------------


def check_crawl(site: Site, start: int, found: list[Any], mode: str) -> None:
    """One crawl from ``start``, checked against the graph (see the module's docstring)."""
    ok: dict[int, int] = {}
    failed: set[int] = set()
    for value in found:
        if isinstance(value, ItemFailure):
            assert mode == "deliver", f"an ItemFailure in mode {mode}: {value!r}"
            assert value.node == "page" and isinstance(value.error, Injected), value
            page = value.error.page
            assert page not in ok and page not in failed, f"page {page} twice"
            failed.add(page)
            continue
        page, depth = value
        assert page not in ok and page not in failed, f"page {page} twice: {found}"
        ok[page] = depth
    skipped = site.fail_page - set(ok) - failed if mode == "skip" else set()
    crawl = {**ok, **{p: -1 for p in failed | skipped}}  # -1: the depth is not known
    every = set(ok) | failed  # skipped pages are left out, so only bound by max_items
    if site.max_items is not None:
        assert len(every) <= site.max_items, f"{len(every)} pages, max_items {site.max_items}"
        if site.max_items == 0:
            assert not every
            return
    assert ok.get(start) == 0 or start in failed | skipped, f"the start {start} is missing"
    assert not (set(ok) & site.fail_page), "a failing page came back as a value"
    for page, depth in ok.items():
        assert site.max_depth is None or depth <= site.max_depth, f"{page} at depth {depth}"
        if page != start:
            assert any(ok.get(q) == depth - 1 and page in site.links[q] for q in ok), (
                f"page {page} at depth {depth}: no page of the crawl at {depth - 1} links to it"
            )
    cut_short = site.max_items is not None and len(every) + len(skipped) >= site.max_items
    if cut_short:
        return
    for page, depth in ok.items():
        if site.max_depth is not None and depth >= site.max_depth:
            continue
        missing = [q for q in site.links[page] if q not in crawl]
        assert not missing, f"links of page {page} never crawled: {missing} ({found})"


def check_result(site: Site, result: dict[str, Any], mode: str) -> None:
    crawls = result["crawled"]
    if len(site.starts) == 1:
        crawls = [crawls]
    assert len(crawls) == len(site.starts)
    for start, found in zip(site.starts, crawls, strict=True):
        check_crawl(site, start, found, mode)


def check_failure(site: Site, outcome: Outcome, plan: dict[str, Any]) -> None:
    err = outcome.value
    assert isinstance(err, NodeExecutionError), outcome.describe()
    assert err.node == plan["node"], outcome.describe()
    cause = err.__cause__
    assert isinstance(cause, Injected) and cause.where == plan["node"], outcome.describe()
    assert isinstance(err, Injected), "the error is not also an instance of its cause's class"
    assert err.index, "the error does not name the item"


def check_outcome(site: Site, mode: str, plan: dict[str, Any], outcome: Outcome) -> None:
    if outcome.kind == "cancelled":
        assert mode == "cancel", f"cancelled in mode {mode}"
        return
    if mode == "fail" and outcome.kind == "error":
        check_failure(site, outcome, plan)
        return
    assert outcome.kind == "ok", outcome.describe()
    check_result(site, outcome.value, mode)
    if mode == "fail":  # the bounds kept the crawl from the failing page
        crawls = outcome.value["crawled"]
        pages = [v[0] for c in (crawls if len(site.starts) > 1 else [crawls]) for v in c]
        assert not (set(pages) & (site.fail_page | site.fail_links)), outcome.describe()


# -- running ---------------------------------------------------------------------------------------


async def one_run(dr: Any, label: str, site: Site, mode: str, plan: dict[str, Any]) -> Outcome:
    outputs, inputs = ["crawled"], {"site": site}
    if label == "execute":
        return await run_execute(dr, outputs, inputs)  # type: ignore[arg-type]
    recorder = Recorder()
    links_faults.TICK = lambda: recorder.tick("page")
    try:
        cancel = Plan("cancel", cancel_at=plan.get("at"), cancel_how=plan.get("how", "task"))
        return await run_aexecute(dr, outputs, inputs, recorder, cancel)  # type: ignore[arg-type]
    finally:
        links_faults.TICK = None


def clean(site: Site) -> Site:
    return Site(site.links, site.starts, site.max_depth, site.max_items, site.order)


@pytest.mark.timeout(SHRINK_TIMEOUT)
@settings(PROFILE, max_examples=IN_PROCESS_EXAMPLES)
@given(drawn=sites(), window=st.sampled_from([1, 2, 1024]))
def test_link_following_with_faults_in_process_leaves_nothing_behind(
    drawn: tuple[Site, str, dict[str, Any]], window: int
) -> None:
    site, mode, plan = drawn
    note(f"{site} mode={mode} plan={plan} window={window}")
    noise: list[dict[str, Any]] = []

    async def main() -> None:
        quiet_loop(noise)
        for label in IN_PROCESS:
            if mode == "cancel" and label == "execute":
                continue  # execute() from a thread has no task to cancel
            baseline = set(threading.enumerate())
            async with build(site, mode, window, _executor(label)) as dr:
                outcome = await one_run(dr, label, site, mode, plan)
                note(f"{label}: {outcome.describe()}")
                check_outcome(site, mode, plan, outcome)
                await check_slots_and_threads(dr)
                again = await one_run(dr, label, clean(site), "none", {})
                check_outcome(clean(site), "none", {}, again)
                await check_slots_and_threads(dr)
            check_no_thread_left(baseline)
        await anyio.sleep(0)

    anyio.run(main)
    assert not noise, f"the loop reported: {noise}"


@pytest.fixture(scope="module")
def processes() -> Iterator[executors.MultiProcessingExecutor]:
    ex = executors.MultiProcessingExecutor(max_tasks=4, processes=2)
    yield ex
    ex.close()


@pytest.mark.timeout(SHRINK_TIMEOUT)
@settings(PROFILE, max_examples=PROCESS_EXAMPLES)
@given(drawn=sites(cancel=False), window=st.sampled_from([1, 1024]))
def test_link_following_with_faults_on_processes_leaves_nothing_behind(
    drawn: tuple[Site, str, dict[str, Any]],
    window: int,
    processes: executors.MultiProcessingExecutor,
) -> None:
    site, mode, plan = drawn
    note(f"{site} mode={mode} plan={plan} window={window}")

    async def main() -> None:
        dr = build(site, mode, window, processes)
        outcome = await one_run(dr, "processes", site, mode, plan)
        note(f"processes: {outcome.describe()}")
        check_outcome(site, mode, plan, outcome)
        await check_slots_and_threads(dr)
        again = await one_run(dr, "processes", clean(site), "none", {})
        check_outcome(clean(site), "none", {}, again)
        await check_slots_and_threads(dr)

    anyio.run(main)
    pids = set(processes.pool().worker_pids())
    alive = {p.pid for p in multiprocessing.active_children()}
    assert pids <= alive, f"workers of the pool are dead: {pids - alive}"


def test_the_checks_catch_a_lost_link() -> None:
    """The crawl check is not vacuous: a crawl missing a link, a page twice or a page with
    no page of the crawl linking to it at the depth before fails it."""
    site = Site({0: (1, 2), 1: (2,), 2: ()})
    check_crawl(site, 0, [(0, 0), (1, 1), (2, 1)], "none")
    for wrong in (
        [(0, 0), (1, 1)],  # 2 lost
        [(0, 0), (1, 1), (2, 1), (2, 1)],  # twice
        [(0, 0), (1, 1), (2, 2)],  # 2 is linked from 0 at depth 0: depth 1, unless 1 came first
        [(0, 0), (1, 2), (2, 1)],  # nothing at depth 1 links to 1 at depth 2
    ):
        if wrong == [(0, 0), (1, 1), (2, 2)]:
            check_crawl(site, 0, wrong, "none")  # legal: 2 was found first through 1
            continue
        with pytest.raises(AssertionError):
            check_crawl(site, 0, wrong, "none")
    with pytest.raises(AssertionError):
        check_crawl(Site({0: (1,), 1: ()}, max_depth=0), 0, [(0, 0), (1, 1)], "none")
