"""The store interfaces (Hamilton's ``hamilton.caching.stores.base``)."""

from asyncdag.caching._stores_base import MetadataStore as MetadataStore
from asyncdag.caching._stores_base import ResultRetrievalError as ResultRetrievalError
from asyncdag.caching._stores_base import ResultStore as ResultStore

__all__ = ["MetadataStore", "ResultRetrievalError", "ResultStore"]
