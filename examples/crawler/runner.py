"""Build the crawl driver and run it: what the command line, the demo and the tests call."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from asyncdag import driver
from asyncdag.errors import NodeExecutionError
from asyncdag.execution.executors import AsyncioExecutor, MultiProcessingExecutor, TaskExecutor
from asyncdag.plugins.ray import RayExecutor, init_local

from . import dataflow
from .client import DEFAULT_CLIENT
from .pages import SitemapError
from .parsing import DEFAULT_PARSER
from .report import CrawlTotals
from .urls import CrawlLimits

__all__ = [
    "CrawlResult",
    "Interrupted",
    "RayUnavailable",
    "build_driver",
    "crawl",
    "executor_for",
    "ray_runtime",
    "run_loop",
]


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


def executor_for(
    limits: CrawlLimits, workers: int | None = None, *, ray: bool = False
) -> TaskExecutor:
    """Where the pages' block instances run, ``limits.concurrency`` of them at once in all:
    this event loop; ``workers`` worker processes, each running its share of them on its own
    loop (``MultiProcessingExecutor(processes=workers, concurrency=...)``); or, with ``ray``,
    Ray async actors, one per CPU of the cluster Ray is connected to (``ray_runtime``).

    Each process (each actor) builds the crawl's clients once (``dataflow.clients``).
    """
    total = limits.concurrency
    if ray:
        return _ray_executor(total)
    if workers is None:
        return AsyncioExecutor(max_tasks=total)
    return MultiProcessingExecutor(total, processes=workers, concurrency=_share(total, workers))


def _share(total: int, workers: int) -> int:
    """Pages at once in each of ``workers``: enough that together they can hold ``total``."""
    return max(1, -(-total // workers))


def _ray_executor(total: int) -> TaskExecutor:
    import ray  # the ray extra, needed only here

    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    actors = min(cpus, total)
    return RayExecutor(total, actors=actors, concurrency=_share(total, actors))


@contextmanager
def ray_runtime(address: str, *, cpus: int | None = None) -> Iterator[None]:
    """Ray for the crawl: ``"local"`` starts one on this machine (``cpus`` CPUs, default all
    of them) that listens on 127.0.0.1 only, without a dashboard; any other ``address``
    (``HOST:PORT``, ``ray://HOST:PORT``) connects to that cluster. Shut down (disconnected)
    on exit.

    Raises :class:`RayUnavailable` when Ray is not installed or the cluster cannot be
    reached.
    """
    try:
        import ray  # the ray extra, needed only here
    except ImportError:
        raise RayUnavailable("--ray needs Ray: pip install 'asyncdag[ray]'") from None
    if ray.is_initialized():
        raise RayUnavailable("Ray is already initialized in this process")
    if address != "local":
        _check_reachable(address)
    try:
        if address == "local":
            init_local(num_cpus=cpus or os.cpu_count() or 1)  # on 127.0.0.1 only
        else:
            ray.init(address=address, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RayUnavailable(f"cannot start or reach Ray at {address}: {first}") from None
    try:
        yield
    finally:
        ray.shutdown()


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Raise :class:`RayUnavailable` unless something listens at ``address`` (ray.init
    would otherwise wait minutes for a cluster that is not there)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except (OSError, ValueError) as exc:
        raise RayUnavailable(f"cannot reach Ray at {address}: {exc}") from None


class RayUnavailable(Exception):
    """Ray is not installed, or the cluster asked for cannot be started or reached."""


def build_driver(
    limits: CrawlLimits,
    *,
    window: int | None = None,
    hooks: Sequence[Any] = (),
    polite: bool = False,
    executor: TaskExecutor | None = None,
    html_parser: str = DEFAULT_PARSER,
    follow: bool = False,
    http_client: str = DEFAULT_CLIENT,
    cache: str | None = None,
) -> driver.Driver:
    """The crawl dataflow on ``executor`` (default: the asyncio executor,
    ``limits.concurrency`` pages at once).

    ``polite``: at most ``dataflow.POLITE_RATE`` requests a second to each host;
    ``follow``: the crawl follows links (``dataflow.url__follow`` and ``links``);
    ``http_client``: what fetches the pages (``client.CLIENTS``); ``cache``: a directory
    where pages (and failures) are kept, so a crawl started again fetches only what it has
    not fetched yet.
    """
    builder = (
        driver.Builder()
        .with_modules(dataflow)
        .with_config(
            {
                "polite": polite,
                "html_parser": html_parser,
                "follow": follow,
                "http_client": http_client,
            }
        )
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
    follow: bool = False,
    max_depth: int | None = None,
    order: str = "breadth",
    http_client: str = DEFAULT_CLIENT,
    cache: str | None = None,
) -> CrawlResult:
    """Crawl the sitemap at URL ``source`` (or the URL file at path ``source``).

    ``follow``: also crawl the pages the crawled pages link to, at most ``max_depth`` links
    away (``None``: no bound), taking the URL found first (``order="breadth"``) or the
    deepest (``"depth"``) of those waiting; ``source`` may then be the page to start from (a
    URL whose path does not end in ``.xml``).

    Raises :class:`SitemapError` when the sitemap or URL file cannot be read. The results
    file has a line for every page that finished, also when the crawl fails or is cancelled.
    """
    outputs = ["totals"] if output_path is None else ["totals", "results_file"]
    inputs: dict[str, Any] = {"source": source, "limits": limits}
    if output_path is not None:
        inputs["output_path"] = output_path
    if follow:
        inputs["max_depth"] = max_depth
        inputs["follow_order"] = order
    dr = build_driver(
        limits,
        window=window,
        hooks=hooks,
        polite=polite,
        executor=executor,
        html_parser=html_parser,
        follow=follow,
        http_client=http_client,
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
