"""`make demo`: crawl a web site with asyncdag, with a live progress bar.

It starts the crawler example's embedded site on 127.0.0.1 (2,000 generated pages, 20 ms a
page, some slow, missing, broken, flaky, redirected, off-origin or refused by robots.txt, and
a rate limit that answers 429 with Retry-After), crawls it through the dataflow of
``examples/crawler`` — the sitemap streamed into a Parallelizable expander, 64 pages at once,
retries, a streaming collector — then prints the summary and checks it against what the site
says a correct crawl finds. No network needed. Set ASYNCDAG_DEMO_PAGES for another size.

The same crawl from the command line, with every option: ``python -m examples.crawler -h``.
"""

from __future__ import annotations

import itertools
import os
import pathlib
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from examples.crawler.__main__ import main as crawler_main


def main() -> int:
    pages = int(os.environ.get("ASYNCDAG_DEMO_PAGES", "2000"))
    output = pathlib.Path(tempfile.gettempdir()) / "asyncdag-demo-crawl.jsonl"
    print("asyncdag demo: a streaming crawl of an embedded web site\n", flush=True)
    status = crawler_main(
        ["--pages", str(pages), "--rate-limit", "600", "--concurrency", "64", "-o", str(output)]
    )
    if status == 0:
        with output.open() as results:
            print("first lines of the results file:")
            for line in itertools.islice(results, 2):
                print("  " + line.rstrip())
    return status


if __name__ == "__main__":
    sys.exit(main())
