"""The cache adapter, its behaviours and its events (Hamilton's ``hamilton.caching.adapter``)."""

from asyncdag.caching._adapter import CacheAdapter as CacheAdapter
from asyncdag.caching._behavior import CachingBehavior as CachingBehavior
from asyncdag.caching._events import CachingEvent as CachingEvent
from asyncdag.caching._events import CachingEventType as CachingEventType

#: Hamilton's name for :class:`CacheAdapter`.
HamiltonCacheAdapter = CacheAdapter

__all__ = [
    "CacheAdapter",
    "CachingBehavior",
    "CachingEvent",
    "CachingEventType",
    "HamiltonCacheAdapter",
]
