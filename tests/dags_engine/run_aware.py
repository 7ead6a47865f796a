"""An all-sync block whose nodes ask which run they belong to (wherever the block runs)."""

from __future__ import annotations

import asyncdag
from asyncdag._calls import current_run
from asyncdag.htypes import Collect, Parallelizable


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


def seen(item: int) -> str:
    run = current_run()
    return run.run_id if run is not None else ""


def checked(seen: str) -> str:
    asyncdag.check_cancelled()  # raises if the run it sees is over
    return seen


def ids(checked: Collect[str]) -> list[str]:
    return checked
