"""What cannot make the trip back from a worker process, node by node (``case`` says which)."""

from __future__ import annotations

import threading

from asyncdag.htypes import Collect, Parallelizable


class FetchError(Exception):
    """Needs constructor arguments that its ``args`` do not hold: it pickles, but does not
    unpickle."""

    def __init__(self, url: str, status: int) -> None:
        super().__init__(f"{url}: HTTP {status}")
        self.url = url
        self.status = status


class Rebuildable(Exception):
    """An exception that makes the trip back as itself."""


class Unloadable:
    """Pickles in the worker, refuses to unpickle anywhere."""

    def __reduce__(self) -> tuple[object, tuple[()]]:
        return (_refuse, ())


def _refuse() -> None:
    raise RuntimeError("this value cannot be rebuilt")


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


def outcome(item: int, case: str) -> object:
    if item != 2:
        return item
    if case == "needs_args":
        raise FetchError(f"http://site/{item}", 404)
    if case == "rebuildable":
        raise Rebuildable(f"item {item}")
    if case == "unpicklable":
        return threading.Lock()
    if case == "unloadable":
        return Unloadable()
    if case == "exit":
        raise SystemExit(3)
    return item


def outcomes(outcome: Collect[object]) -> int:
    return len(outcome)
