"""``python -m examples.crawler [SOURCE]``: crawl a sitemap (or follow links) and print a
summary.

Without SOURCE it starts the embedded site (``site.py``) on 127.0.0.1 and crawls it, then
checks what it found against what the site says a correct crawl finds. SOURCE may be a
sitemap URL (``https://example.com/sitemap.xml``), a sitemap saved as a ``.xml`` file, or a
text file of URLs, one a line. With ``--follow`` the crawl also follows the links of the
pages it crawls (``--depth N`` links at most); SOURCE may then be the page to start from
(a URL whose path does not end in ``.xml``; the embedded site: its root).

The crawl stays on the origins it was given (scheme, host and port: the sitemap's; for a URL
file, those the file names; plus any ``--allow-host``) unless ``--follow-external``, honours
robots.txt, and bounds page size, redirects, the number of pages and what it reads of
sitemaps. Exit status: 0 when the crawl ran (failed pages are part of the report), 2 when the
command line, the sitemap or the URL file is unusable (with a one-line message), 1 when the
embedded site's crawl does not match its expected results, 130 / 143 when SIGINT (Ctrl-C) /
SIGTERM stopped it (the results file then has a line for every page that finished).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a path: python examples/crawler
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    __package__ = "examples.crawler"

from asyncdag.htypes import Frontier
from asyncdag.lifecycle import ProgressBar

from .client import CLIENTS, DEFAULT_CLIENT
from .dataflow import POLITE_RATE, is_sitemap
from .pages import CrawlLimits, SitemapError, check_url
from .parsing import DEFAULT_PARSER, PARSERS
from .report import is_skip, summary
from .runner import (
    CrawlResult,
    Interrupted,
    RayUnavailable,
    crawl,
    executor_for,
    ray_runtime,
    run_loop,
)
from .site import EmbeddedSite, Expected, SiteConfig
from .urls import origin_of, origins_for_host

EXIT_USAGE = 2


class UsageError(Exception):
    """A command line, sitemap or URL file the crawl cannot use: printed in one line."""


@dataclass
class Options:
    source: str | None
    limits: CrawlLimits
    output: str | None
    window: int | None
    progress: bool
    polite: bool
    site: SiteConfig
    follow: bool = False
    depth: int | None = None
    order: str = "breadth"
    workers: int | None = None
    ray: str | None = None
    html_parser: str = DEFAULT_PARSER
    http_client: str = DEFAULT_CLIENT
    cache: str | None = None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m examples.crawler",
        description="Crawl a sitemap with asyncdag (default: an embedded local site).",
    )
    add = parser.add_argument
    add("source", nargs="?", help="sitemap URL, sitemap .xml file, or file of URLs")
    add("--concurrency", type=int, default=64, help="pages fetched at once (default 64)")
    add("--window", type=int, help="URLs read ahead of the slowest page (default 4x concurrency)")
    add("--output", "-o", help="write one JSON line per URL to this file")
    add("--max-pages", type=int, help="take at most this many URLs from the sitemap")
    add("--max-bytes", type=int, default=1024 * 1024, help="largest page body (default 1 MiB)")
    add("--max-redirects", type=int, default=5, help="redirects per page (default 5)")
    add("--timeout", type=float, default=10.0, help="seconds per request (default 10)")
    add(
        "--polite",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"at most {POLITE_RATE} requests/s to each host (default: on, except for the"
        " embedded site)",
    )
    add("--follow-external", action="store_true", help="fetch URLs on any origin")
    add(
        "--allow-host",
        action="append",
        default=[],
        metavar="HOST",
        help="another origin to crawl: HOST (http on 80 and https on 443), HOST:PORT (http"
        " and https on that port) or SCHEME://HOST[:PORT]; repeat for more",
    )
    add("--no-progress", action="store_true", help="no progress bar")
    add("--verbose", "-v", action="store_true", help="log every failed page")
    add("--cache", metavar="DIR", help="keep pages in DIR: a crawl started again resumes")
    add(
        "--html-parser",
        choices=sorted(PARSERS),
        default=DEFAULT_PARSER,
        help=f"how pages are parsed (default {DEFAULT_PARSER})",
    )
    add(
        "--http-client",
        choices=CLIENTS,
        default=DEFAULT_CLIENT,
        help=f"what fetches the pages (default {DEFAULT_CLIENT})",
    )
    follow = parser.add_argument_group("following links")
    follow.add_argument(
        "--follow",
        action="store_true",
        help="also crawl the pages the crawled pages link to, each URL once, on the allowed"
        " origins (links elsewhere are counted as skipped); SOURCE may then be the page to"
        " start from, a URL not ending in .xml (the embedded site: its root)",
    )
    follow.add_argument(
        "--depth",
        type=int,
        metavar="N",
        help="with --follow: fetch pages at most N links away from where the crawl started"
        " (the start is depth 0; default: no bound)",
    )
    follow.add_argument(
        "--order",
        choices=Frontier.ORDERS,
        help="with --follow: which waiting URL is fetched next, the one found first"
        " (breadth, the default: level by level, and --max-pages keeps the pages nearest the"
        " start) or the deepest (depth: long chains of links finish sooner)",
    )
    run_on = parser.add_argument_group(
        "where pages are fetched (default: this event loop; --concurrency pages at once in"
        " all, shared out; not with --polite)"
    )
    run_on.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="in N worker processes, each fetching its share of the pages on its own loop",
    )
    run_on.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="on Ray async actors, one per CPU: a cluster's address (HOST:PORT or"
        " ray://HOST:PORT), or 'local' to start Ray on this machine (127.0.0.1 only)",
    )
    bounds = parser.add_argument_group("what the crawl reads of sitemaps and robots.txt")
    bounds.add_argument(
        "--sitemap-max-bytes",
        type=int,
        default=CrawlLimits.sitemap_max_bytes,
        metavar="BYTES",
        help="bytes of all the sitemaps together (default 50 MiB)",
    )
    bounds.add_argument(
        "--sitemap-timeout",
        type=float,
        default=CrawlLimits.sitemap_timeout,
        metavar="SECONDS",
        help="seconds spent waiting for sitemap bytes, all sitemaps together (default 120)",
    )
    bounds.add_argument(
        "--max-loc",
        type=int,
        default=CrawlLimits.max_loc,
        metavar="CHARS",
        help="characters in one sitemap <loc>, or one line of a URL file (default 8,192)",
    )
    bounds.add_argument(
        "--robots",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="read and honour each origin's robots.txt (default: on)",
    )
    site = parser.add_argument_group("the embedded site (when no SOURCE is given)")
    site.add_argument("--pages", type=int, default=2000, help="pages (default 2,000)")
    site.add_argument("--latency", type=float, default=0.02, help="seconds per page (0.02)")
    site.add_argument(
        "--rate-limit", type=float, default=None, help="requests/s before it answers 429"
    )
    site.add_argument("--seed", type=int, default=1, help="what site to generate (default 1)")
    return parser.parse_args(argv)


def options(args: argparse.Namespace) -> Options:
    """Checks the command line; raises :class:`UsageError` with a one-line message."""
    for name in ("concurrency", "max_bytes", "pages", "sitemap_max_bytes", "max_loc"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("max_pages", "window", "workers"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    if args.max_redirects < 0:
        raise UsageError("--max-redirects must not be negative")
    if args.timeout <= 0 or args.latency < 0:
        raise UsageError("--timeout must be positive and --latency not negative")
    if args.sitemap_timeout <= 0:
        raise UsageError("--sitemap-timeout must be positive")
    _check_follow_and_executors(args)
    source = args.source
    allowed = list(args.allow_host)
    for value in allowed:
        try:
            origins_for_host(value)
        except ValueError as exc:
            raise UsageError(f"--allow-host: {exc}") from None
    urls: list[str] = []
    if source is None:
        pass  # the embedded site's origin is added once it has a port (run())
    elif "://" in source:
        problem = check_url(source)
        if problem is not None:
            what = "start URL" if args.follow and not is_sitemap(source) else "sitemap URL"
            raise UsageError(f"bad {what}: {problem}")
        urls.append(source)
    else:
        urls += _file_urls(source)
    limits = CrawlLimits.for_urls(
        *urls,
        allow=allowed,
        follow_external=args.follow_external,
        max_pages=args.max_pages,
        max_bytes=args.max_bytes,
        max_redirects=args.max_redirects,
        timeout=args.timeout,
        concurrency=args.concurrency,
        sitemap_max_bytes=args.sitemap_max_bytes,
        sitemap_timeout=args.sitemap_timeout,
        max_loc=args.max_loc,
        robots=args.robots,
    )
    site = SiteConfig(
        pages=args.pages, seed=args.seed, latency=args.latency, rate_limit=args.rate_limit
    )
    polite = _polite(args)
    return Options(
        source,
        limits,
        args.output,
        args.window,
        not args.no_progress,
        polite,
        site,
        follow=args.follow,
        depth=args.depth,
        order=args.order or "breadth",
        workers=args.workers,
        ray=args.ray,
        html_parser=args.html_parser,
        http_client=args.http_client,
        cache=args.cache,
    )


def _check_follow_and_executors(args: argparse.Namespace) -> None:
    if args.depth is not None:
        if not args.follow:
            raise UsageError("--depth bounds --follow: give --follow too")
        if args.depth < 0:
            raise UsageError("--depth must not be negative")
    if args.order is not None and not args.follow:
        raise UsageError("--order is the order of --follow: give --follow too")
    if args.workers is not None and args.ray is not None:
        raise UsageError("--workers and --ray are two places to run pages: choose one")
    if args.ray is not None and args.ray != "local":
        address = args.ray.removeprefix("ray://")
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit() or "/" in address:
            raise UsageError(f"--ray: {args.ray!r} is not HOST:PORT, ray://HOST:PORT or 'local'")
    if (args.workers is not None or args.ray is not None) and _polite(args):
        raise UsageError(
            "--workers and --ray fetch from several processes, each spacing its own requests"
            " to a host: a polite crawl runs on one event loop (--no-polite for sites you"
            " run)"
        )


def _polite(args: argparse.Namespace) -> bool:
    """Whether the crawl spaces its requests to each host (default: for sites not ours)."""
    return bool(args.polite if args.polite is not None else args.source is not None)


def _file_urls(path: str) -> list[str]:
    """One URL of each origin a URL file names (a sitemap file: none; its sitemaps' origins
    come later)."""
    if not os.path.isfile(path):
        raise UsageError(f"no such file: {path} (give a sitemap URL, a .xml file or a URL file)")
    if path.endswith(".xml"):
        return []
    by_origin: dict[object, str] = {}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#") and check_url(line) is None:
                    by_origin.setdefault(origin_of(line), line)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read URL file {path}: {exc}") from None
    return list(by_origin.values())


def _last_port(port_file: Path | None) -> int:
    """The embedded site's port of the last crawl with this cache, or 0."""
    try:
        text = port_file.read_text().strip() if port_file is not None else ""
    except OSError:
        return 0
    return int(text) if text.isdigit() and 0 < int(text) < 65536 else 0


async def run(opts: Options) -> int:
    hooks = [ProgressBar("pages", skipped_if=is_skip)] if opts.progress else []
    executor = executor_for(opts.limits, opts.workers, ray=opts.ray is not None)

    async def crawl_from(source: str, limits: CrawlLimits) -> CrawlResult:
        return await crawl(
            source,
            limits,
            output_path=opts.output,
            window=opts.window,
            hooks=hooks,
            polite=opts.polite,
            executor=executor,
            html_parser=opts.html_parser,
            follow=opts.follow,
            max_depth=opts.depth,
            order=opts.order,
            http_client=opts.http_client,
            cache=opts.cache,
        )

    if opts.source is not None:
        result = await crawl_from(opts.source, opts.limits)
        print(_report(result, opts.source, opts))
        return 0
    # Its URLs carry its port, and the cache is keyed by URL: with --cache the site takes the
    # port it had last time, so a crawl started again finds what the last one stored.
    port_file = Path(opts.cache) / "embedded-site.port" if opts.cache else None
    last_port = _last_port(port_file)
    async with EmbeddedSite(opts.site, port=last_port) as site:
        if port_file is not None:
            if last_port and site.port != last_port:
                print(
                    f"embedded site: port {last_port} is taken, so what the cache holds from"
                    " the last crawl of the embedded site is not found again",
                    flush=True,
                )
            port_file.parent.mkdir(parents=True, exist_ok=True)
            port_file.write_text(f"{site.port}\n")
        print(
            f"embedded site: {opts.site.pages:,} pages at {site.base_url}"
            f" ({opts.site.latency * 1e3:g} ms a page"
            + (f", {opts.site.rate_limit:g} requests/s" if opts.site.rate_limit else "")
            + ")",
            flush=True,
        )
        limits = opts.limits.with_origins_of([site.base_url])
        source = site.base_url + "/" if opts.follow else site.sitemap_url
        result = await crawl_from(source, limits)
        print(_report(result, source, opts))
        statuses = ", ".join(f"{n:,} x {code}" for code, n in sorted(site.stats.by_status.items()))
        print(f"the site answered {site.stats.requests:,} requests: {statuses}")
        if not opts.follow:
            want = site.expected(
                follow_external=limits.follow_external,
                max_pages=limits.max_pages,
                max_bytes=limits.max_bytes,
                max_redirects=limits.max_redirects,
                robots=limits.robots,
            )
        elif limits.max_pages is None and not limits.follow_external:
            want = site.expected_follow(
                opts.depth,
                max_bytes=limits.max_bytes,
                max_redirects=limits.max_redirects,
                robots=limits.robots,
            )
        else:
            # which pages a bounded follow crawl takes up depends on the order pages answer
            # in; links off the site lead to the open web
            print(
                "check: none (what a crawl that follows links finds with --max-pages or"
                " --follow-external depends on timing)"
            )
            return 0
    return _check(result, want)


def _report(result: CrawlResult, source: str, opts: Options) -> str:
    text = summary(
        result.totals,
        source=source,
        elapsed=result.elapsed,
        follow_external=opts.limits.follow_external,
        follow=opts.follow,
        max_depth=opts.depth,
    )
    if opts.output is not None:
        text += f"\nresults: {opts.output} ({result.lines:,} lines)"
    return text


def _check(result: CrawlResult, want: Expected) -> int:
    got = result.totals
    wrong = [
        f"{what}: found {found}, expected {expected}"
        for what, found, expected in (
            ("pages ok", got.ok, want.ok),
            ("failed", dict(got.failed), want.failed),
            ("skipped", dict(got.skipped), want.skipped),
            ("words", got.words, want.words),
            ("links", got.links, want.links),
            ("top words", got.top_words(), want.top_words),
        )
        if found != expected
    ]
    if wrong:
        print("MISMATCH with the site's expected results:\n  " + "\n  ".join(wrong))
        return 1
    print("check: every count matches what the embedded site expects")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.verbose:
        # each failed page is counted in the summary; one warning apiece would bury it
        logging.getLogger("asyncdag").setLevel(logging.ERROR)
    try:
        opts = options(args)
        with ray_runtime(opts.ray) if opts.ray is not None else contextlib.nullcontext():
            return int(run_loop(run(opts)))
    except (UsageError, SitemapError, RayUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Interrupted as stopped:
        kept = f"; {_lines(opts.output):,} lines in {opts.output}" if opts.output else ""
        print(f"{stopped}: the crawl stopped{kept}", file=sys.stderr)
        return 128 + stopped.signum
    except KeyboardInterrupt:  # a second Ctrl-C
        return 130


def _lines(path: str) -> int:
    try:
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
