"""``python -m examples.crawler [SOURCE]``: crawl a sitemap and print a summary.

Without SOURCE it starts the embedded site (``site.py``) on 127.0.0.1 and crawls it, then
checks what it found against what the site says a correct crawl finds. SOURCE may be a
sitemap URL (``https://example.com/sitemap.xml``), a sitemap saved as a ``.xml`` file, or a
text file of URLs, one a line.

The crawl stays on the hosts it was given (the sitemap's host; for a URL file, the hosts the
file names; plus any ``--allow-host``) unless ``--follow-external``, and bounds page size,
redirects and the number of pages. Exit status: 0 when the crawl ran (failed pages are part
of the report), 2 when the command line, the sitemap or the URL file is unusable (with a
one-line message), 1 when the embedded site's crawl does not match its expected results.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

if __package__ in (None, ""):  # run as a path: python examples/crawler
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    __package__ = "examples.crawler"

from asyncdag.lifecycle import ProgressBar

from .dataflow import POLITE_RATE
from .pages import CrawlLimits, SitemapError, check_url
from .report import summary
from .runner import CrawlResult, crawl, run_loop
from .site import EmbeddedSite, Expected, SiteConfig

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
    add("--follow-external", action="store_true", help="fetch URLs on any host")
    add("--allow-host", action="append", default=[], metavar="HOST", help="another host to crawl")
    add("--no-progress", action="store_true", help="no progress bar")
    add("--verbose", "-v", action="store_true", help="log every failed page")
    add("--cache", metavar="DIR", help="keep pages in DIR: a crawl started again resumes")
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
    for name in ("concurrency", "max_bytes", "pages"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("max_pages", "window"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    if args.max_redirects < 0:
        raise UsageError("--max-redirects must not be negative")
    if args.timeout <= 0 or args.latency < 0:
        raise UsageError("--timeout must be positive and --latency not negative")
    source = args.source
    hosts = {h.lower() for h in args.allow_host}
    if source is None:
        hosts.add("127.0.0.1")
    elif "://" in source:
        problem = check_url(source)
        if problem is not None:
            raise UsageError(f"bad sitemap URL: {problem}")
        hosts.add(urlsplit(source).hostname or "")
    else:
        hosts |= _file_hosts(source)
    limits = CrawlLimits(
        hosts=frozenset(h.lower() for h in hosts),
        follow_external=args.follow_external,
        max_pages=args.max_pages,
        max_bytes=args.max_bytes,
        max_redirects=args.max_redirects,
        timeout=args.timeout,
        concurrency=args.concurrency,
    )
    site = SiteConfig(
        pages=args.pages, seed=args.seed, latency=args.latency, rate_limit=args.rate_limit
    )
    polite = args.polite if args.polite is not None else source is not None
    opts = Options(source, limits, args.output, args.window, not args.no_progress, polite, site)
    opts.cache = args.cache
    return opts


def _file_hosts(path: str) -> set[str]:
    """The hosts a URL file names (a sitemap file: none; its sitemaps' hosts come later)."""
    if not os.path.isfile(path):
        raise UsageError(f"no such file: {path} (give a sitemap URL, a .xml file or a URL file)")
    if path.endswith(".xml"):
        return set()
    hosts: set[str] = set()
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#") and check_url(line) is None:
                    hosts.add((urlsplit(line).hostname or "").lower())
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read URL file {path}: {exc}") from None
    return hosts


async def run(opts: Options) -> int:
    hooks = [ProgressBar("pages")] if opts.progress else []
    if opts.source is not None:
        result = await crawl(
            opts.source,
            opts.limits,
            output_path=opts.output,
            window=opts.window,
            hooks=hooks,
            polite=opts.polite,
            cache=opts.cache,
        )
        print(_report(result, opts.source, opts))
        return 0
    async with EmbeddedSite(opts.site) as site:
        print(
            f"embedded site: {opts.site.pages:,} pages at {site.base_url}"
            f" ({opts.site.latency * 1e3:g} ms a page"
            + (f", {opts.site.rate_limit:g} requests/s" if opts.site.rate_limit else "")
            + ")",
            flush=True,
        )
        result = await crawl(
            site.sitemap_url,
            opts.limits,
            output_path=opts.output,
            window=opts.window,
            hooks=hooks,
            polite=opts.polite,
            cache=opts.cache,
        )
        print(_report(result, site.sitemap_url, opts))
        statuses = ", ".join(f"{n:,} x {code}" for code, n in sorted(site.stats.by_status.items()))
        print(f"the site answered {site.stats.requests:,} requests: {statuses}")
        want = site.expected(
            follow_external=opts.limits.follow_external,
            max_pages=opts.limits.max_pages,
            max_bytes=opts.limits.max_bytes,
            max_redirects=opts.limits.max_redirects,
        )
    return _check(result, want)


def _report(result: CrawlResult, source: str, opts: Options) -> str:
    text = summary(
        result.totals,
        source=source,
        elapsed=result.elapsed,
        follow_external=opts.limits.follow_external,
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
        return int(run_loop(run(opts)))
    except (UsageError, SitemapError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
