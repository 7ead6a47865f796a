"""The public surface of asyncdag.function_modifiers and asyncdag.settings."""

from __future__ import annotations

import types

import pytest

import asyncdag.function_modifiers as fm
from asyncdag import settings

HAMILTON_NAMES = [
    "config",
    "hamilton_exclude",
    "parameterize",
    "parameterize_sources",
    "parameterize_values",
    "parameterize_extract_columns",
    "ParameterizedExtract",
    "inject",
    "source",
    "value",
    "group",
    "configuration",
    "extract_fields",
    "extract_columns",
    "unpack_fields",
    "tag",
    "tag_outputs",
    "schema",
    "check_output",
    "check_output_custom",
    "does",
    "pipe",
    "pipe_input",
    "pipe_output",
    "step",
    "mutate",
    "apply_to",
    "subdag",
    "parameterized_subdag",
    "resolve",
    "resolve_from_config",
    "ResolveAt",
    "InvalidDecoratorException",
    "LiteralDependency",
    "UpstreamDependency",
    "IS_DATA_VALIDATOR_TAG",
    "DATA_VALIDATOR_ORIGINAL_OUTPUT_TAG",
]


@pytest.mark.parametrize("module", [fm, settings], ids=lambda m: m.__name__)
def test_all_lists_exactly_the_public_names(module: types.ModuleType) -> None:
    public = {
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and not isinstance(obj, types.ModuleType)
        and name != "annotations"
    }
    assert set(module.__all__) == public


def test_hamilton_names_are_all_there() -> None:
    missing = [name for name in HAMILTON_NAMES if name not in fm.__all__]
    assert not missing
    assert fm.exclude is fm.hamilton_exclude


def test_every_public_name_has_a_docstring() -> None:
    undocumented = [
        name
        for name in fm.__all__
        if callable(getattr(fm, name)) and not (getattr(fm, name).__doc__ or "").strip()
    ]
    assert not undocumented
    assert settings.ENABLE_POWER_USER_MODE == "asyncdag.enable_power_user_mode"
