"""Policies stacked with function modifiers, on either side of them."""

from __future__ import annotations

from collections import Counter

from asyncdag.function_modifiers import extract_fields, parameterize, tag, value
from asyncdag.policies import concurrency, rate_limit, retry, timeout

ATTEMPTS: Counter[int] = Counter()


def reset() -> None:
    ATTEMPTS.clear()


@tag(team="crawl")
@retry(2, backoff=0, on=(ConnectionError,))
def flaky(x: int) -> int:
    """Fails once per x, then doubles it."""
    ATTEMPTS[x] += 1
    if ATTEMPTS[x] == 1:
        raise ConnectionError("once")
    return 2 * x


@parameterize(plus_one={"k": value(1)}, plus_two={"k": value(2)})
@timeout(5)
def plus(x: int, k: int) -> int:
    return x + k


@extract_fields({"a": int, "b": int})
@concurrency(1)
@rate_limit(100, per=1.0)
@timeout(5)
@retry(2, backoff=0)
async def pair(x: int) -> dict[str, int]:
    return {"a": x, "b": -x}
