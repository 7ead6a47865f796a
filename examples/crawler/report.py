"""What a crawl found, and how it is shown: running totals, JSON lines, the summary."""

from __future__ import annotations

import asyncio
import heapq
import json
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from asyncdag.htypes import ItemFailure

from .pages import FetchError
from .parsing import PageStats

__all__ = [
    "CrawlTotals",
    "ResultsFile",
    "failure_reason",
    "is_skip",
    "json_record",
    "summary",
    "top_words",
]


def top_words(counts: Counter[str], n: int = 10) -> list[tuple[str, int]]:
    """The ``n`` most common words, ties broken alphabetically (so results are stable)."""
    return heapq.nsmallest(n, counts.items(), key=lambda kv: (-kv[1], kv[0]))


def is_skip(error: BaseException) -> bool:
    """Whether a delivered failure is a URL not fetched on purpose (off-origin, robots.txt):
    what the summary counts as skipped, and what ``ProgressBar(skipped_if=is_skip)`` shows
    so, so that the bar's counts match the summary's."""
    return isinstance(error, FetchError) and error.skipped


def failure_reason(failure: ItemFailure) -> str:
    error = failure.error
    if isinstance(error, FetchError):
        return error.reason
    return f"{failure.node} raised {type(error).__name__}"


@dataclass
class CrawlTotals:
    """Running totals of a crawl, folded one page result (or failure) at a time."""

    ok: int = 0
    failed: Counter[str] = field(default_factory=Counter)  # reason -> pages
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> pages
    words: int = 0
    links: int = 0
    bytes: int = 0
    word_counts: Counter[str] = field(default_factory=Counter)

    @property
    def urls(self) -> int:
        return self.ok + sum(self.failed.values()) + sum(self.skipped.values())

    def add(self, result: PageStats | ItemFailure) -> None:
        if isinstance(result, ItemFailure):
            reason = failure_reason(result)
            if is_skip(result.error):
                self.skipped[reason] += 1
                return
            self.failed[reason] += 1
            return
        self.ok += 1
        self.words += result.words
        self.links += result.links
        self.bytes += result.bytes
        self.word_counts.update(result.found)

    def top_words(self, n: int = 10) -> list[tuple[str, int]]:
        return top_words(self.word_counts, n)


def json_record(result: PageStats | ItemFailure) -> dict[str, Any]:
    """The results file's line for one URL."""
    if isinstance(result, ItemFailure):
        error = result.error
        if isinstance(error, FetchError):
            return {
                "url": error.url,
                "ok": False,
                "skipped": error.skipped,
                "reason": error.reason,
                "status": error.status,
            }
        return {
            "url": None,
            "index": list(result.index),
            "ok": False,
            "skipped": False,
            "reason": failure_reason(result),
            "error": str(error),
        }
    return {
        "url": result.url,
        "ok": True,
        "final_url": result.final_url,
        "status": result.status,
        "bytes": result.bytes,
        "words": result.words,
        "links": result.links,
    }


def _by_reason(counts: Counter[str]) -> str:
    return ", ".join(
        f"{reason}: {n:,}" for reason, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    )


def summary(
    totals: CrawlTotals,
    *,
    source: str,
    elapsed: float,
    follow_external: bool,
    follow: bool = False,
    max_depth: int | None = None,
) -> str:
    """A short, readable report of a finished crawl (``follow``: one that followed links,
    at most ``max_depth`` links from its start)."""
    rate = totals.urls / elapsed if elapsed > 0 else 0.0
    how = ""
    if follow:
        how = " following links" + (f" to depth {max_depth}" if max_depth is not None else "")
    lines = [
        f"crawled {source}{how}",
        f"  {totals.urls:,} URLs in {elapsed:.2f} s ({rate:,.0f} pages/s)",
        f"  ok       {totals.ok:>7,}  pages: {totals.words:,} words, {totals.links:,} links,"
        f" {totals.bytes / 1e6:.1f} MB",
    ]
    failed = sum(totals.failed.values())
    lines.append(f"  failed   {failed:>7,}" + (f"  {_by_reason(totals.failed)}" if failed else ""))
    skipped = sum(totals.skipped.values())
    if skipped:
        hint = ""
        if "off-origin" in totals.skipped and not follow_external:
            hint = " (--allow-host to crawl an origin too)"
        lines.append(f"  skipped  {skipped:>7,}  {_by_reason(totals.skipped)}{hint}")
    top = totals.top_words(10)
    if top:
        lines.append("top words: " + ", ".join(f"{w} {n:,}" for w, n in top))
    return "\n".join(lines)


class ResultsFile:
    """A JSON-lines file written in batches on a thread of its own (a write never blocks the
    event loop), and complete whenever :meth:`close` returns: also when the crawl was
    cancelled in the middle of a batch, since ``close`` is plain blocking code that a
    ``finally`` runs (it waits for the batch in flight, writes the rest, closes).
    """

    BATCH = 64
    EVERY = 0.2  # seconds

    def __init__(self, path: str) -> None:
        self.lines = 0
        self._file = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="results-file")
        self._held: list[str] = []
        self._writing: tuple[Future[int], str] | None = None
        self._last_write = time.monotonic()

    async def add(self, record: dict[str, Any]) -> None:
        self._held.append(json.dumps(record) + "\n")
        self.lines += 1
        if len(self._held) >= self.BATCH or time.monotonic() - self._last_write > self.EVERY:
            batch = "".join(self._held)
            self._held.clear()
            self._last_write = time.monotonic()
            write = self._thread.submit(self._file.write, batch)
            self._writing = (write, batch)
            await asyncio.wrap_future(write)
            self._writing = None

    def close(self) -> None:
        """Write what is held and close the file (blocks for at most one batch)."""
        if self._file.closed:
            return
        try:
            if self._writing is not None:
                write, batch = self._writing
                self._writing = None
                if write.cancelled():  # cancelled before its thread took it up
                    self._held.insert(0, batch)
                else:
                    write.result()
            self._file.write("".join(self._held))
            self._held.clear()
        finally:
            self._file.close()
            self._thread.shutdown()
