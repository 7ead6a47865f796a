"""Per-node policies: what happens when a node fails, and how it is paced.

Decorators usable on any node (sync or async, inside blocks or not)::

    from asyncdag.policies import concurrency, on_error, rate_limit, retry, timeout

    @on_error("skip")          # a failing item is dropped from its collectors and logged
    @retry(4, backoff=0.5, on=(ConnectionError, TimeoutError))
    @timeout(10)               # each attempt gets 10 s
    @rate_limit(5, per=1.0, key=lambda url: urlsplit(url).hostname)   # 5 a second per host
    @concurrency(20)           # at most 20 requests in flight, across all runs
    async def page(url: str) -> str: ...

    @on_error("deliver")       # collectors get an htypes.ItemFailure in place of the value
    def parsed(page: str) -> dict: ...

    @item_label(lambda row: row["url"])   # how errors, logs and hooks name each item
    def row(rows: list[dict]) -> Parallelizable[dict]: ...

Error policy. The default is ``"fail"``: the first failure fails the whole run (fail-fast).
``"skip"`` and ``"deliver"`` apply to nodes inside a Parallelizable block and end the failing
item only; a node outside any block always fails the run.

Call policies (``retry``, ``timeout``, ``concurrency``, ``rate_limit``) wrap the function with
``functools.wraps``: the node keeps its name, signature and annotations, and an ``async def``
stays async. They compose with each other, with ``on_error`` and with the
``function_modifiers`` decorators in any order, and the order of the call policies is the
order in which they act, outermost first. In the example above every attempt gets its own
10 s, waits for the rate limit and a concurrency slot, and gives the slot back before the
backoff sleep; put ``timeout`` outside ``retry`` to bound all attempts together, or outside
``concurrency`` to count the wait for a slot.

A timeout raises the builtin ``TimeoutError`` from the node, which the engine reports as a
``NodeExecutionError`` naming the node and item. ``concurrency`` and ``rate_limit`` hold
across every run, thread and event loop of a process; under ``MultiProcessingExecutor`` and
the cluster executors, each worker process enforces them for itself.

Sync nodes wait (a retry's backoff, a rate limit, a concurrency slot) by blocking the thread
they run on. Under ``execute()`` with the default executors, sync nodes run inline in the
run's private loop thread, so such a wait pauses the whole run meanwhile; use ``aexecute``, or
a threaded executor, when that matters.
"""

from asyncdag.policies._errors import DELIVER, FAIL, ON_ERROR_TAG, SKIP, on_error
from asyncdag.policies._labels import ITEM_LABEL_TAG, item_label
from asyncdag.policies._limits import concurrency, rate_limit
from asyncdag.policies._retry import Attempt, retry, retry_after
from asyncdag.policies._timeout import timeout

__all__ = [
    "DELIVER",
    "FAIL",
    "ITEM_LABEL_TAG",
    "ON_ERROR_TAG",
    "SKIP",
    "Attempt",
    "concurrency",
    "item_label",
    "on_error",
    "rate_limit",
    "retry",
    "retry_after",
    "timeout",
]
