"""The SQLite metadata store (Hamilton's ``hamilton.caching.stores.sqlite``)."""

from asyncdag.caching._stores import SQLiteMetadataStore as SQLiteMetadataStore

__all__ = ["SQLiteMetadataStore"]
