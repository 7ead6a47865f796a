"""Data loaders and savers: the classes behind ``@load_from``, ``@save_to``, ``from_`` and ``to``.

A loader or saver is a dataclass whose fields are its parameters (``path``, ``sep`` ...);
``name()`` is the key it is used by (``load_from.json``, ``to.csv``), and
``applicable_types()`` the types it loads to or saves from. Write your own and register it::

    @dataclasses.dataclass
    class YamlLoader(DataLoader):
        path: str

        @classmethod
        def applicable_types(cls):
            return [dict]

        @classmethod
        def name(cls):
            return "yaml"

        def load_data(self, type_):
            with open(self.path) as f:
                return yaml.safe_load(f), utils.get_file_metadata(self.path)

    registry.register_adapter(YamlLoader)

Async loaders and savers: define ``async def aload_data(self, type_)`` (``async def
asave_data(self, data)``) as well, and the node that uses the adapter is an ``async`` node
that awaits it, so file I/O never holds a thread or blocks the event loop. The built-in file
adapters do this with aiofiles.
"""

from __future__ import annotations

import abc
import dataclasses
import typing
from collections.abc import Collection
from typing import Any

from asyncdag.graph._types import types_compatible

__all__ = ["AdapterCommon", "DataLoader", "DataSaver"]


class AdapterCommon(abc.ABC):
    """What loaders and savers share."""

    @classmethod
    @abc.abstractmethod
    def applicable_types(cls) -> Collection[Any]:
        """The types this adapter loads to (a loader) or saves from (a saver)."""

    @classmethod
    @abc.abstractmethod
    def applies_to(cls, type_: Any) -> bool:
        """Whether the adapter fits a node of type ``type_``."""

    @classmethod
    @abc.abstractmethod
    def name(cls) -> str:
        """The key the adapter is used by: ``load_from.<name>``, ``to.<name>``."""

    @classmethod
    def _fields(cls) -> tuple[dataclasses.Field[Any], ...]:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(
                f"{cls.__qualname__} must be a dataclass (its fields are its parameters);"
                " add @dataclasses.dataclass"
            )
        return dataclasses.fields(cls)

    @classmethod
    def get_required_arguments(cls) -> dict[str, Any]:
        """Parameters without a default, with their types."""
        hints = typing.get_type_hints(cls)
        return {
            f.name: hints.get(f.name, Any)
            for f in cls._fields()
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }

    @classmethod
    def get_optional_arguments(cls) -> dict[str, Any]:
        """Parameters with a default, with their types."""
        hints = typing.get_type_hints(cls)
        return {
            f.name: hints.get(f.name, Any)
            for f in cls._fields()
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        }

    @classmethod
    def can_load(cls) -> bool:
        return False

    @classmethod
    def can_save(cls) -> bool:
        return False

    @classmethod
    def is_async(cls) -> bool:
        """Whether the adapter has an async method (``aload_data`` / ``asave_data``)."""
        return callable(getattr(cls, "aload_data" if cls.can_load() else "asave_data", None))


class DataLoader(AdapterCommon):
    """Loads data: ``load_data(type_)`` returns ``(data, metadata)``."""

    @abc.abstractmethod
    def load_data(self, type_: Any) -> tuple[Any, dict[str, Any]]:
        """The loaded data and a dict of metadata about it (path, size ...)."""

    @classmethod
    def can_load(cls) -> bool:
        return True

    @classmethod
    def applies_to(cls, type_: Any) -> bool:
        """A loader fits when what it loads can be passed where ``type_`` is declared."""
        return any(types_compatible(t, type_) for t in cls.applicable_types())


class DataSaver(AdapterCommon):
    """Saves data: ``save_data(data)`` returns a dict of metadata about what was written."""

    @abc.abstractmethod
    def save_data(self, data: Any) -> dict[str, Any]:
        """Write ``data``; return metadata about it (path, size ...)."""

    @classmethod
    def can_save(cls) -> bool:
        return True

    @classmethod
    def applies_to(cls, type_: Any) -> bool:
        """A saver fits when a value of ``type_`` can be given to it."""
        return any(types_compatible(type_, t) for t in cls.applicable_types())
