"""Block nodes that fail ``failures`` times per item before they succeed.

Each call raises ``error`` (``"ConnectionError"``, which the policies retry, or
``"ValueError"``, which they do not) while the item has been tried ``failures`` times or
fewer; then it returns how many attempts the item took.
"""

from __future__ import annotations

from collections import Counter

from asyncdag.htypes import Parallelizable
from asyncdag.policies import retry

ATTEMPTS: Counter[tuple[str, int]] = Counter()
ERRORS: dict[str, type[Exception]] = {"ConnectionError": ConnectionError, "ValueError": ValueError}


def reset() -> None:
    ATTEMPTS.clear()


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


def _attempt(node: str, item: int, failures: int, error: str) -> int:
    ATTEMPTS[node, item] += 1
    tried = ATTEMPTS[node, item]
    if tried <= failures:
        raise ERRORS[error](f"item {item}, attempt {tried}")
    return tried


@retry(3, backoff=0.01, on=(ConnectionError,))
def fetched(item: int, failures: int, error: str = "ConnectionError") -> int:
    """Sync: runs on a worker thread."""
    return _attempt("fetched", item, failures, error)


@retry(3, backoff=0.01, on=ConnectionError)
async def afetched(item: int, failures: int, error: str = "ConnectionError") -> int:
    """Async: runs on the event loop."""
    return _attempt("afetched", item, failures, error)
