"""Loading and saving data (Hamilton's ``hamilton.io``).

- :mod:`asyncdag.io.data_adapters`: the ``DataLoader`` / ``DataSaver`` bases;
- :mod:`asyncdag.io.default_data_loaders`, :mod:`asyncdag.io.pandas_data_adapters`: the
  built-in adapters (json, pickle, text and bytes files, environment, literal, memory; csv,
  parquet and feather with pandas);
- :mod:`asyncdag.io.materialization`: ``to`` and ``from_``, for
  ``Builder.with_materializers(...)`` and ``Driver.materialize(...)``;
- :func:`register_adapter` adds your own.

The decorators that use the same adapters are in :mod:`asyncdag.function_modifiers`:
``load_from``, ``save_to``, ``dataloader``, ``datasaver``.
"""

from asyncdag.io._registry import LOADER_REGISTRY as LOADER_REGISTRY
from asyncdag.io._registry import SAVER_REGISTRY as SAVER_REGISTRY
from asyncdag.io._registry import register_adapter as register_adapter
from asyncdag.io.data_adapters import AdapterCommon as AdapterCommon
from asyncdag.io.data_adapters import DataLoader as DataLoader
from asyncdag.io.data_adapters import DataSaver as DataSaver

__all__ = [
    "LOADER_REGISTRY",
    "SAVER_REGISTRY",
    "AdapterCommon",
    "DataLoader",
    "DataSaver",
    "register_adapter",
]
