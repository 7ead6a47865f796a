"""In-memory stores (Hamilton's ``hamilton.caching.stores.memory``)."""

from asyncdag.caching._stores import InMemoryMetadataStore as InMemoryMetadataStore
from asyncdag.caching._stores import InMemoryResultStore as InMemoryResultStore

__all__ = ["InMemoryMetadataStore", "InMemoryResultStore"]
