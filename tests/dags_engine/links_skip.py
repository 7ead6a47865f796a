"""Overrides ``links.page``: broken pages are dropped by their error policy (they find
nothing). Build with ``allow_module_overrides()`` after ``links``."""

from __future__ import annotations

from typing import Any

from asyncdag.htypes import Collect
from asyncdag.policies import on_error
from tests.dags_engine.links import page as _page


@on_error("skip")
async def page(url: str, site: dict[str, list[str]], probe: dict[str, Any]) -> list[str]:
    return await _page(url, site, probe)


def fetched(page: Collect[list[str]]) -> int:
    return len(page)
