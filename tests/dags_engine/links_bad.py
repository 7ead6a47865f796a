"""Discovered[...] feeding an expander that is not a Frontier: refused at build()."""

from __future__ import annotations

from asyncdag.htypes import Collect, Discovered, Parallelizable


def url(root: str) -> Parallelizable[str]:
    yield root


def links(url: str) -> Discovered[str]:
    return [url + "x"]


def found(links: Collect[list[str]]) -> int:
    return len(links)
