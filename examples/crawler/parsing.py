"""What the crawl keeps of a page: its words and links, from one of two HTML parsers.

- ``"lexbor"`` (selectolax, in the ``crawl`` extra): a C parser. Chosen by measurement on the
  embedded site's pages (``benchmarks/crawl_parse.py``): about 14 us a page to parse and pull
  out text and links, against about 30 us for lxml and 140 us for ``html.parser``;
- ``"html.parser"`` (the standard library): the fallback when selectolax is not installed.

Both give the same words and links (``tests/test_crawler_parsing.py`` compares them page by
page on the embedded site): the text outside ``<script>``, ``<style>`` and comments, entities
decoded, pieces of text separated as if by a space; a link is an ``<a>`` with a non-empty
``href``. Words are runs of letters, lowercased.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser

from .pages import Fetched

try:  # the C parser of the crawl extra
    from selectolax.lexbor import LexborHTMLParser
except ImportError:  # pragma: no cover - selectolax is in the crawl extra
    LexborHTMLParser = None

__all__ = ["DEFAULT_PARSER", "PARSERS", "PageStats", "parse_page", "words_of"]

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_WORD = re.compile(r"[^\W\d_]+")
# ASCII text: every character that is not a letter becomes a space, then split (a quarter of
# the regular expression's time); other text takes the regular expression
_NOT_LETTERS = str.maketrans({chr(c): " " for c in range(128) if not chr(c).isalpha()})
_HIDDEN = ["script", "style"]


@dataclass(frozen=True)
class PageStats:
    """What the crawl keeps of a page: ``links`` counts its ``<a href>``; ``hrefs`` are
    their targets as written (for a crawl that follows links); ``found`` its words in page
    order (:attr:`word_counts` counts them).

    The words travel as a list rather than a ``Counter``: the crawl's totals count them in
    one C loop (``Counter.update`` of a list), where a ``Counter`` per page measured ~20 us
    a page more (building it, then merging it key by key). A page holds at most
    ``max_bytes`` of text, so the list is bounded too.
    """

    url: str
    final_url: str
    status: int
    bytes: int
    words: int
    links: int
    found: list[str] = field(default_factory=list, repr=False, compare=False)
    hrefs: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @property
    def word_counts(self) -> Counter[str]:
        return Counter(self.found)


def words_of(text: str) -> list[str]:
    """The words of ``text``: runs of letters, lowercased."""
    text = text.lower()
    if text.isascii():
        return text.translate(_NOT_LETTERS).split()
    return _WORD.findall(text)


def _lexbor(html: str) -> tuple[str, list[str]]:
    assert LexborHTMLParser is not None
    tree = LexborHTMLParser(html)
    hrefs = [href for a in tree.tags("a") if (href := a.attributes.get("href"))]
    tree.strip_tags(_HIDDEN)
    return tree.root.text(separator=" ") if tree.root is not None else "", hrefs


class _TextAndLinks(HTMLParser):
    """Collects a page's text (not scripts, styles or comments) and its links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.hrefs: list[str] = []
        self._hidden = 0  # inside <script> or <style>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden += 1
        elif tag == "a":
            href = next((v for k, v in attrs if k == "href"), None)
            if href:
                self.hrefs.append(href)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.text.append(data)


def _stdlib(html: str) -> tuple[str, list[str]]:
    parser = _TextAndLinks()
    parser.feed(html)
    parser.close()
    return " ".join(parser.text), parser.hrefs


#: name -> a function from a page's HTML to (its text, its hrefs)
PARSERS: dict[str, Callable[[str], tuple[str, list[str]]]] = {"html.parser": _stdlib}
if LexborHTMLParser is not None:
    PARSERS["lexbor"] = _lexbor
#: the parser :func:`parse_page` uses unless told otherwise
DEFAULT_PARSER = "lexbor" if "lexbor" in PARSERS else "html.parser"


def parse_page(fetched: Fetched, parser: str = DEFAULT_PARSER) -> PageStats:
    """Words and links of an HTML page (other content types count as pages of no words)."""
    found: list[str] = []
    hrefs: list[str] = []
    if fetched.content_type in HTML_TYPES:
        try:
            html = fetched.body.decode(fetched.charset or "utf-8", errors="replace")
        except LookupError:  # a charset Python does not know
            html = fetched.body.decode("utf-8", errors="replace")
        text, hrefs = PARSERS[parser](html)
        found = words_of(text)
    return PageStats(
        fetched.url,
        fetched.final_url,
        fetched.status,
        len(fetched.body),
        len(found),
        len(hrefs),
        found,
        tuple(hrefs),
    )
