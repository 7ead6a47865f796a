"""The public surface: each public module's __all__ is exactly what it exports."""

from __future__ import annotations

import importlib
import types

import pytest

PUBLIC = [
    "asyncdag",
    "asyncdag.driver",
    "asyncdag.errors",
    "asyncdag.htypes",
    "asyncdag.execution",
    "asyncdag.execution.executors",
    "asyncdag.execution.grouping",
    "asyncdag.function_modifiers",
    "asyncdag.settings",
    "asyncdag.lifecycle",
    "asyncdag.policies",
    "asyncdag.resources",
    "asyncdag.plugins",
    "asyncdag.plugins.dask",
    "asyncdag.plugins.ray",
    "asyncdag.plugins.h_opentelemetry",
    "asyncdag.viz",
    "asyncdag.log_setup",
    "asyncdag.cli",
    "asyncdag.data_quality",
    "asyncdag.data_quality.base",
    "asyncdag.base",
    "asyncdag.async_driver",
    "asyncdag.ad_hoc_utils",
    "asyncdag.graph_types",
    "asyncdag.registry",
    "asyncdag.io",
    "asyncdag.io.data_adapters",
    "asyncdag.io.default_data_loaders",
    "asyncdag.io.pandas_data_adapters",
    "asyncdag.io.materialization",
    "asyncdag.io.utils",
    "asyncdag.lifecycle.api",
    "asyncdag.lifecycle.default",
    "asyncdag.plugins.h_dask",
    "asyncdag.plugins.h_ray",
    "asyncdag.plugins.h_threadpool",
    "asyncdag.plugins.h_rich",
    "asyncdag.plugins.h_tqdm",
    "asyncdag.function_modifiers.expanders",
    "asyncdag.function_modifiers.dependencies",
    "asyncdag.function_modifiers.macros",
    "asyncdag.function_modifiers.metadata",
    "asyncdag.function_modifiers.configuration",
    "asyncdag.function_modifiers.delayed",
    "asyncdag.function_modifiers.recursive",
    "asyncdag.function_modifiers.validation",
    "asyncdag.function_modifiers.adapters",
    "asyncdag.function_modifiers.base",
    "asyncdag.caching",
    "asyncdag.caching.adapter",
    "asyncdag.caching.cache_key",
    "asyncdag.caching.fingerprinting",
    "asyncdag.caching.stores",
    "asyncdag.caching.stores.base",
    "asyncdag.caching.stores.file",
    "asyncdag.caching.stores.memory",
    "asyncdag.caching.stores.sqlite",
]


@pytest.mark.parametrize("name", PUBLIC)
def test_all_lists_exactly_the_public_names(name: str) -> None:
    module = importlib.import_module(name)
    exported = set(module.__all__)
    public = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_")
        and not isinstance(value, types.ModuleType)
        and _defined_behind(getattr(value, "__module__", None), name)
    }
    assert public <= exported, f"{name}: missing from __all__: {sorted(public - exported)}"
    for attr in exported:
        assert hasattr(module, attr), f"{name}.__all__ names {attr!r}, which does not exist"


def _defined_behind(defined_in: str | None, public_name: str) -> bool:
    """Defined in the public module itself (the package root re-exports on purpose)."""
    if not defined_in:
        return False
    if public_name == "asyncdag":
        return defined_in.startswith("asyncdag")
    return defined_in == public_name
