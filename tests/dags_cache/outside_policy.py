"""An ``on_error`` policy on a node outside any block, where it changes nothing: its failure
fails the run, so it is no result to keep."""

from __future__ import annotations

from asyncdag.htypes import Collect, Parallelizable
from asyncdag.policies import on_error

#: inputs a test makes ``flaky`` fail for, and the calls it made
FAIL_FOR: set[int] = set()
CALLS: list[int] = []


@on_error("skip")
def flaky(x: int) -> int:
    CALLS.append(x)
    if x in FAIL_FOR:
        raise ConnectionError(f"backend down for {x}")
    return x + 1


def item(flaky: int) -> Parallelizable[int]:
    yield from range(flaky)


@on_error("deliver")
def inner(item: int) -> int:  # in a block: its failures are data (an ItemFailure), kept
    CALLS.append(100 + item)
    if 100 + item in FAIL_FOR:
        raise ConnectionError(f"item {item} down")
    return item


def total(inner: Collect[object]) -> int:
    return sum(v for v in inner if isinstance(v, int))
