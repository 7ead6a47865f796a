"""Which loaders and savers each key (``json``, ``csv`` ...) names."""

from __future__ import annotations

import importlib.util

from asyncdag.io import (
    default_data_loaders,
    pandas_data_adapters,  # imports pandas only when an adapter runs
)
from asyncdag.io.data_adapters import AdapterCommon, DataLoader, DataSaver

__all__ = ["LOADER_REGISTRY", "SAVER_REGISTRY", "register_adapter"]

#: key -> loader classes, in registration order (the last registered is tried first)
LOADER_REGISTRY: dict[str, list[type[DataLoader]]] = {}
#: key -> saver classes, in registration order
SAVER_REGISTRY: dict[str, list[type[DataSaver]]] = {}


def register_adapter(adapter: type[AdapterCommon]) -> None:
    """Make a loader or saver class usable by its ``name()``: ``load_from.<name>``,
    ``save_to.<name>``, ``from_.<name>``, ``to.<name>``."""
    if not (isinstance(adapter, type) and issubclass(adapter, AdapterCommon)):
        raise TypeError(f"register_adapter takes a DataLoader or DataSaver class, not {adapter!r}")
    key = adapter.name()
    if issubclass(adapter, DataLoader):
        found = LOADER_REGISTRY.setdefault(key, [])
        if adapter not in found:
            found.append(adapter)
    if issubclass(adapter, DataSaver):
        saved = SAVER_REGISTRY.setdefault(key, [])
        if adapter not in saved:
            saved.append(adapter)


for _adapter in default_data_loaders.DATA_ADAPTERS:
    register_adapter(_adapter)
if importlib.util.find_spec("pandas") is not None:  # pandas is optional
    for _adapter in pandas_data_adapters.PANDAS_ADAPTERS:
        register_adapter(_adapter)
