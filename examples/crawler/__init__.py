"""A URL crawler on asyncdag, with the web site it crawls.

- ``site.py``: an embedded site generated from a seed (pages, sitemap, a link graph from its
  root, robots.txt, slow pages, 404s, 500s, redirects, a rate limit) that knows what a correct
  crawl must find, of its sitemap or following its links;
- ``urls.py``: origins, the allow-list and the other bounds (:class:`~.urls.CrawlLimits`);
- ``pages.py``: fetching one page (aiohttp), every redirect hop checked;
- ``robots.py``: robots.txt, read once per origin and honoured;
- ``sitemaps.py``: streaming, bounded sitemap reading; URL files;
- ``parsing.py``: words and links of a page (selectolax's lexbor, or ``html.parser``);
- ``dataflow.py``: the crawl as asyncdag nodes;
- ``report.py``: totals, the results file, the summary;
- ``runner.py``: builds the driver and runs a crawl;
- ``__main__.py``: ``python -m examples.crawler``.
"""
