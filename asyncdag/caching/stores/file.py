"""The file result store (Hamilton's ``hamilton.caching.stores.file``)."""

from asyncdag.caching._stores import FileResultStore as FileResultStore

__all__ = ["FileResultStore"]
