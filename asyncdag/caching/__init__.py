"""Caching and resume: ``Builder().with_cache()``, with Hamilton's names, for every kind of run.

A node's result is stored under a *cache key* made of its name, its code version and the
data versions of its dependencies; a later call with the same key takes the result from the
cache instead of running the node. This holds per item inside Parallelizable blocks, for
expanders (a hit replays the items without calling the generator), for collectors, under
``execute``, ``aexecute`` and ``astream``, and on every executor, so a run that was killed
half-way and started again runs only what had not finished::

    from asyncdag import driver

    dr = driver.Builder().with_modules(my_dataflow).with_cache(path=".cache").build()
    dr.execute(["report"], inputs={"day": "2024-05-01"})
    dr.execute(["report"], inputs={"day": "2024-05-01"})   # every node from the cache
    dr.cache.logs(run_id=dr.cache.last_run_id)

Modules: :mod:`~asyncdag.caching.adapter` (``CacheAdapter``, what ``dr.cache`` is; behaviours,
events),
:mod:`~asyncdag.caching.fingerprinting` (data versions),
:mod:`~asyncdag.caching.cache_key`, :mod:`~asyncdag.caching.stores` (SQLite metadata, file
results, in-memory stores). The ``@cache`` decorator is in ``asyncdag.function_modifiers``.
Events are logged to the ``asyncdag.caching`` logger.

This package imports nothing of the engine or the lifecycle hooks (``function_modifiers``
imports it for ``@cache`` while the graph builder is still loading); the adapter, which is a
lifecycle hook, is in :mod:`asyncdag.caching.adapter`.
"""

from asyncdag.caching._behavior import CachingBehavior as CachingBehavior
from asyncdag.caching._events import CachingEvent as CachingEvent
from asyncdag.caching._events import CachingEventType as CachingEventType
from asyncdag.caching._stores import FileResultStore as FileResultStore
from asyncdag.caching._stores import InMemoryMetadataStore as InMemoryMetadataStore
from asyncdag.caching._stores import InMemoryResultStore as InMemoryResultStore
from asyncdag.caching._stores import SQLiteMetadataStore as SQLiteMetadataStore

__all__ = [
    "CachingBehavior",
    "CachingEvent",
    "CachingEventType",
    "FileResultStore",
    "InMemoryMetadataStore",
    "InMemoryResultStore",
    "SQLiteMetadataStore",
]
