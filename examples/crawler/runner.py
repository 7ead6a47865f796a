"""Build the crawl driver and run it: what the command line, the demo and the tests call."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from asyncdag import driver
from asyncdag.errors import NodeExecutionError
from asyncdag.execution.executors import AsyncioExecutor, MultiProcessingExecutor, TaskExecutor

from . import dataflow
from .pages import SitemapError
from .parsing import DEFAULT_PARSER
from .report import CrawlTotals
from .urls import CrawlLimits

__all__ = ["CrawlResult", "Interrupted", "build_driver", "crawl", "executor_for", "run_loop"]


@dataclass
class CrawlResult:
    totals: CrawlTotals
    elapsed: float  # seconds
    lines: int | None  # lines written to the results file, if one was asked for


class Interrupted(Exception):
    """The crawl was stopped by a signal (SIGINT, SIGTERM); ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


def executor_for(limits: CrawlLimits, workers: int | None = None) -> TaskExecutor:
    """Where the pages' block instances run: the event loop (``limits.concurrency`` at
    once), or ``workers`` processes (``MultiProcessingExecutor(workers)``)."""
    if workers is None:
        return AsyncioExecutor(max_tasks=limits.concurrency)
    return MultiProcessingExecutor(workers)


def build_driver(
    limits: CrawlLimits,
    *,
    window: int | None = None,
    hooks: Sequence[Any] = (),
    polite: bool = False,
    executor: TaskExecutor | None = None,
    html_parser: str = DEFAULT_PARSER,
    cache: str | None = None,
) -> driver.Driver:
    """The crawl dataflow on ``executor`` (default: the asyncio executor,
    ``limits.concurrency`` pages at once).

    ``polite``: at most ``dataflow.POLITE_RATE`` requests a second to each host. ``cache``: a
    directory where pages (and failures) are kept, so a crawl started again fetches only
    what it has not fetched yet.
    """
    builder = (
        driver.Builder()
        .with_modules(dataflow)
        .with_config({"polite": polite, "html_parser": html_parser})
        .with_remote_executor(executor or executor_for(limits))
        .with_window(window or max(256, 4 * limits.concurrency))
    )
    if hooks:
        builder = builder.with_adapters(*hooks)
    if cache is not None:
        builder = builder.with_cache(cache)
    return builder.build()


async def crawl(
    source: str,
    limits: CrawlLimits,
    *,
    output_path: str | None = None,
    window: int | None = None,
    hooks: Sequence[Any] = (),
    polite: bool = False,
    executor: TaskExecutor | None = None,
    html_parser: str = DEFAULT_PARSER,
    cache: str | None = None,
) -> CrawlResult:
    """Crawl the sitemap at URL ``source`` (or the URL file at path ``source``).

    Raises :class:`SitemapError` when the sitemap or URL file cannot be read. The results
    file has a line for every page that finished, also when the crawl fails or is cancelled.
    """
    outputs = ["totals"] if output_path is None else ["totals", "results_file"]
    inputs: dict[str, Any] = {"source": source, "limits": limits}
    if output_path is not None:
        inputs["output_path"] = output_path
    dr = build_driver(
        limits,
        window=window,
        hooks=hooks,
        polite=polite,
        executor=executor,
        html_parser=html_parser,
        cache=cache,
    )
    async with dr:
        started = time.perf_counter()
        try:
            found = await dr.aexecute(outputs, inputs=inputs)
        except NodeExecutionError as exc:
            if isinstance(exc.__cause__, SitemapError):
                raise exc.__cause__ from None
            raise
        elapsed = time.perf_counter() - started
    return CrawlResult(found["totals"], elapsed, found.get("results_file"))


def run_loop(main: Coroutine[Any, Any, Any]) -> Any:
    """Run the coroutine ``main`` on uvloop when it is installed (as ``execute()`` does).

    The first SIGINT (Ctrl-C) or SIGTERM cancels ``main`` — the crawl stops, its results file
    keeps every page that finished — and raises :class:`Interrupted`; a second one acts as
    the signal does by default (SIGINT raises ``KeyboardInterrupt``, SIGTERM ends the
    process), for a crawl that does not stop fast enough.
    """

    async def guarded() -> Any:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        caught: list[int] = []

        def stop(signum: int) -> None:
            caught.append(signum)
            for s in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(s)
            task.cancel()

        for s in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(s, stop, s)
        try:
            return await main
        except asyncio.CancelledError:
            if caught:
                raise Interrupted(caught[0]) from None
            raise
        finally:
            if not caught:
                for s in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(s)

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        return asyncio.run(guarded())
    return uvloop.run(guarded())
