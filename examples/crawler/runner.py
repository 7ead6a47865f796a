"""Build the crawl driver and run it: what the command line, the demo and the tests call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from asyncdag import driver
from asyncdag.errors import NodeExecutionError
from asyncdag.execution.executors import AsyncioExecutor

from . import dataflow
from .pages import CrawlLimits, SitemapError
from .report import CrawlTotals

__all__ = ["CrawlResult", "build_driver", "crawl", "run_loop"]


@dataclass
class CrawlResult:
    totals: CrawlTotals
    elapsed: float  # seconds
    lines: int | None  # lines written to the results file, if one was asked for


def build_driver(
    limits: CrawlLimits,
    *,
    window: int | None = None,
    hooks: Sequence[Any] = (),
    polite: bool = False,
    cache: str | None = None,
) -> driver.Driver:
    """The crawl dataflow on the asyncio executor, ``limits.concurrency`` pages at once.

    ``polite``: at most ``dataflow.POLITE_RATE`` requests a second to each host. ``cache``: a
    directory where pages (and failures) are kept, so a crawl started again fetches only
    what it has not fetched yet.
    """
    builder = (
        driver.Builder()
        .with_modules(dataflow)
        .with_config({"polite": polite})
        .with_remote_executor(AsyncioExecutor(max_tasks=limits.concurrency))
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
    cache: str | None = None,
) -> CrawlResult:
    """Crawl the sitemap at URL ``source`` (or the URL file at path ``source``).

    Raises :class:`SitemapError` when the sitemap or URL file cannot be read.
    """
    outputs = ["totals"] if output_path is None else ["totals", "results_file"]
    inputs: dict[str, Any] = {"source": source, "limits": limits}
    if output_path is not None:
        inputs["output_path"] = output_path
    dr = build_driver(limits, window=window, hooks=hooks, polite=polite, cache=cache)
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


def run_loop(main: Any) -> Any:
    """Run the coroutine ``main`` on uvloop when it is installed (as ``execute()`` does)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        return asyncio.run(main)
    return uvloop.run(main)
