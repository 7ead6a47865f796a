"""Which loaders and savers each key (``json``, ``csv`` ...) names."""

from __future__ import annotations

from asyncdag.io import default_data_loaders
from asyncdag.io.data_adapters import AdapterCommon, DataLoader, DataSaver

try:  # pandas is optional: its adapters exist where it is installed
    from asyncdag.io import pandas_data_adapters
except ImportError:  # pragma: no cover - pandas is in the dev environment
    pandas_data_adapters = None  # type: ignore[assignment]

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
if pandas_data_adapters is not None:
    for _adapter in pandas_data_adapters.PANDAS_ADAPTERS:
        register_adapter(_adapter)
