"""A URL crawler on asyncdag, with the web site it crawls.

- ``site.py``: an embedded site generated from a seed (pages, sitemap, slow pages, 404s, 500s,
  redirects, a rate limit) that knows what a correct crawl must find;
- ``pages.py``: fetching (aiohttp), HTML parsing (``html.parser``), streaming sitemap reading;
- ``dataflow.py``: the crawl as asyncdag nodes;
- ``report.py``: totals, JSON lines, the summary;
- ``runner.py``: builds the driver and runs a crawl;
- ``__main__.py``: ``python -m examples.crawler``.
"""
