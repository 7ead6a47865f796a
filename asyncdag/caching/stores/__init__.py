"""The stores: SQLite metadata, file results, in-memory ones, and their interfaces."""

from asyncdag.caching._stores import FileResultStore as FileResultStore
from asyncdag.caching._stores import InMemoryMetadataStore as InMemoryMetadataStore
from asyncdag.caching._stores import InMemoryResultStore as InMemoryResultStore
from asyncdag.caching._stores import SQLiteMetadataStore as SQLiteMetadataStore
from asyncdag.caching._stores_base import MetadataStore as MetadataStore
from asyncdag.caching._stores_base import ResultRetrievalError as ResultRetrievalError
from asyncdag.caching._stores_base import ResultStore as ResultStore

__all__ = [
    "FileResultStore",
    "InMemoryMetadataStore",
    "InMemoryResultStore",
    "MetadataStore",
    "ResultRetrievalError",
    "ResultStore",
    "SQLiteMetadataStore",
]
