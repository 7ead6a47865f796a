"""Decorators that shape how functions become nodes, with Hamilton's names and behaviour.

A module written for Hamilton runs unchanged once ``hamilton`` is replaced by ``asyncdag`` in
its imports::

    from asyncdag.function_modifiers import config, extract_fields, source, parameterize

    @config.when(region="eu")
    def vat__eu() -> float:
        return 0.2

    @extract_fields({"net": float, "gross": float})
    def prices(cost: float, vat: float) -> dict:
        return {"net": cost, "gross": cost * (1 + vat)}

A misapplied decorator fails ``build()`` with :class:`InvalidDecoratorError` naming the
function, the decorator and the problem.

Hamilton's submodule paths work too (``function_modifiers.expanders``, ``.dependencies``,
``.macros``, ``.metadata``, ``.configuration``, ``.delayed``, ``.recursive``, ``.validation``,
``.adapters``, ``.base``), and so do the materializing decorators ``load_from``, ``save_to``,
``dataloader`` and ``datasaver`` (adapters in :mod:`asyncdag.io`), and ``cache`` (per-node
behaviour and format for ``Builder().with_cache()``, :mod:`asyncdag.caching`).

Not provided: ``with_columns``, the pandera ``schema=`` check, and the deprecated
``parameterized_inputs``, ``dynamic_transform`` and ``model``.
"""

from __future__ import annotations

from asyncdag.errors import InvalidDecoratorError
from asyncdag.function_modifiers._adapters import dataloader, datasaver, load_from, save_to
from asyncdag.function_modifiers._cache import cache as cache
from asyncdag.function_modifiers._config import config, exclude, hamilton_exclude
from asyncdag.function_modifiers._dependencies import (
    ConfigDependency,
    GroupedDictDependency,
    GroupedListDependency,
    LiteralDependency,
    ParametrizedDependency,
    UpstreamDependency,
    configuration,
    group,
    source,
    value,
)
from asyncdag.function_modifiers._deprecated import (
    parametrized,
    parametrized_input,
    ray_remote_options,
)
from asyncdag.function_modifiers._does import does
from asyncdag.function_modifiers._dynamic import ResolveAt, resolve, resolve_from_config
from asyncdag.function_modifiers._extract import (
    ParameterizedExtract,
    extract_columns,
    extract_fields,
    parameterize_extract_columns,
    unpack_fields,
)
from asyncdag.function_modifiers._parameterize import (
    inject,
    parameterize,
    parameterize_sources,
    parameterize_values,
)
from asyncdag.function_modifiers._pipe import (
    Applicable,
    apply_to,
    mutate,
    pipe,
    pipe_input,
    pipe_output,
    step,
)
from asyncdag.function_modifiers._resolve import CONFIG_TAG
from asyncdag.function_modifiers._subdag import SubdagParams, parameterized_subdag, subdag
from asyncdag.function_modifiers._tags import SCHEMA_OUTPUT_TAG, schema, tag, tag_outputs
from asyncdag.function_modifiers._validation import (
    DATA_VALIDATOR_ORIGINAL_OUTPUT_TAG,
    IS_DATA_VALIDATOR_TAG,
    check_output,
    check_output_custom,
)
from asyncdag.function_modifiers._validators import (
    AsyncDataValidator,
    BaseDefaultValidator,
    DataValidationError,
    DataValidationLevel,
    DataValidator,
    ValidationResult,
)

#: Hamilton's name for :class:`asyncdag.errors.InvalidDecoratorError`.
InvalidDecoratorException = InvalidDecoratorError

#: What a blanket ``hamilton`` -> ``asyncdag`` rename turns ``hamilton_exclude`` into.
asyncdag_exclude = hamilton_exclude

__all__ = [
    "CONFIG_TAG",
    "DATA_VALIDATOR_ORIGINAL_OUTPUT_TAG",
    "IS_DATA_VALIDATOR_TAG",
    "SCHEMA_OUTPUT_TAG",
    "Applicable",
    "AsyncDataValidator",
    "BaseDefaultValidator",
    "ConfigDependency",
    "DataValidationError",
    "DataValidationLevel",
    "DataValidator",
    "GroupedDictDependency",
    "GroupedListDependency",
    "InvalidDecoratorError",
    "InvalidDecoratorException",
    "LiteralDependency",
    "ParameterizedExtract",
    "ParametrizedDependency",
    "ResolveAt",
    "SubdagParams",
    "UpstreamDependency",
    "ValidationResult",
    "apply_to",
    "asyncdag_exclude",
    "cache",
    "check_output",
    "check_output_custom",
    "config",
    "configuration",
    "dataloader",
    "datasaver",
    "does",
    "exclude",
    "extract_columns",
    "extract_fields",
    "group",
    "hamilton_exclude",
    "inject",
    "load_from",
    "mutate",
    "parameterize",
    "parameterize_extract_columns",
    "parameterize_sources",
    "parameterize_values",
    "parameterized_subdag",
    "parametrized",
    "parametrized_input",
    "pipe",
    "pipe_input",
    "pipe_output",
    "ray_remote_options",
    "resolve",
    "resolve_from_config",
    "save_to",
    "schema",
    "source",
    "step",
    "subdag",
    "tag",
    "tag_outputs",
    "unpack_fields",
    "value",
]
