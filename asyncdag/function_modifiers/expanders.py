"""Hamilton's ``function_modifiers.expanders`` path: decorators that make several nodes."""

from asyncdag.function_modifiers._deprecated import parametrized as parametrized
from asyncdag.function_modifiers._deprecated import parametrized_input as parametrized_input
from asyncdag.function_modifiers._extract import ParameterizedExtract as ParameterizedExtract
from asyncdag.function_modifiers._extract import extract_columns as extract_columns
from asyncdag.function_modifiers._extract import extract_fields as extract_fields
from asyncdag.function_modifiers._extract import (
    parameterize_extract_columns as parameterize_extract_columns,
)
from asyncdag.function_modifiers._extract import unpack_fields as unpack_fields
from asyncdag.function_modifiers._parameterize import inject as inject
from asyncdag.function_modifiers._parameterize import parameterize as parameterize
from asyncdag.function_modifiers._parameterize import parameterize_sources as parameterize_sources
from asyncdag.function_modifiers._parameterize import parameterize_values as parameterize_values

__all__ = [
    "ParameterizedExtract",
    "extract_columns",
    "extract_fields",
    "inject",
    "parameterize",
    "parameterize_extract_columns",
    "parameterize_sources",
    "parameterize_values",
    "parametrized",
    "parametrized_input",
    "unpack_fields",
]
