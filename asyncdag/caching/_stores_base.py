"""The two store interfaces, with Hamilton's method names.

A *metadata store* maps a cache key to the data version of the result it produced; a
*result store* maps a data version to the result. Any object with these methods can be
passed to ``with_cache(metadata_store=..., result_store=...)``. The cache calls them on its
own threads, never on an event loop, and only in batches it makes itself; the ``*_many``
methods have defaults that loop over the single ones, and the built-in stores override them
with one statement per batch. A store travels to worker processes by pickle, so it should
pickle as its settings (the built-in stores do) and reopen where it lands.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

__all__ = ["MetadataStore", "ResultRetrievalError", "ResultStore"]


class ResultRetrievalError(Exception):
    """A stored result could not be read back (missing, truncated, corrupted, unreadable)."""


class MetadataStore(abc.ABC):
    """cache key -> data version, plus the runs that wrote them."""

    @abc.abstractmethod
    def __len__(self) -> int:
        """How many cache keys are stored."""

    @abc.abstractmethod
    def initialize(self, run_id: str) -> None:
        """Record that run ``run_id`` started."""

    @abc.abstractmethod
    def set(self, cache_key: str, data_version: str, **kwargs: Any) -> None:
        """Store ``cache_key -> data_version``; ``run_id``, ``node_name`` and ``code_version``
        come as keyword arguments."""

    @abc.abstractmethod
    def get(self, cache_key: str, **kwargs: Any) -> str | None:
        """The data version stored for ``cache_key``, or ``None``."""

    @abc.abstractmethod
    def delete(self, cache_key: str) -> None: ...

    @abc.abstractmethod
    def delete_all(self) -> None: ...

    @abc.abstractmethod
    def exists(self, cache_key: str) -> bool: ...

    @abc.abstractmethod
    def get_run_ids(self) -> Sequence[str]:
        """Run ids, oldest first."""

    @abc.abstractmethod
    def get_run(self, run_id: str) -> Sequence[dict[str, Any]]:
        """What run ``run_id`` stored: ``cache_key``, ``data_version``, ``node_name``,
        ``code_version`` per entry."""

    @property
    def size(self) -> int:
        return len(self)

    @property
    def last_run_id(self) -> str:
        return self.get_run_ids()[-1]

    def get_last_run(self) -> Any:
        return self.get_run(self.last_run_id)

    # -- batches (the cache calls these; override them to save round trips) -----------------

    def set_many(self, rows: Sequence[tuple[str, str, str, str, str | None]]) -> None:
        """Store (cache_key, node_name, code_version, data_version, run_id) rows."""
        for key, node, code, version, run_id in rows:
            self.set(
                cache_key=key,
                data_version=version,
                run_id=run_id,
                node_name=node,
                code_version=code,
            )

    def get_many(self, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for key in keys:
            version = self.get(key)
            if version is not None:
                found[key] = version
        return found

    def delete_many(self, keys: Sequence[str]) -> None:
        for key in keys:
            self.delete(key)

    def initialize_many(self, run_ids: Sequence[tuple[str, float]]) -> None:
        for run_id, _ in run_ids:
            self.initialize(run_id)


class ResultStore(abc.ABC):
    """data version -> result."""

    @abc.abstractmethod
    def set(self, data_version: str, result: Any, **kwargs: Any) -> None: ...

    @abc.abstractmethod
    def get(self, data_version: str, **kwargs: Any) -> Any | None:
        """The result, or ``None`` when there is none."""

    @abc.abstractmethod
    def delete(self, data_version: str) -> None: ...

    @abc.abstractmethod
    def delete_all(self) -> None: ...

    @abc.abstractmethod
    def exists(self, data_version: str) -> bool: ...
