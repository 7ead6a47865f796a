"""Cache keys (Hamilton's ``hamilton.caching.cache_key``)."""

from asyncdag.caching._keys import create_cache_key as create_cache_key

__all__ = ["create_cache_key"]
