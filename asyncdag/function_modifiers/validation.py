"""Hamilton's ``function_modifiers.validation`` path: data quality checks on outputs."""

from asyncdag.function_modifiers._validation import (
    DATA_VALIDATOR_ORIGINAL_OUTPUT_TAG as DATA_VALIDATOR_ORIGINAL_OUTPUT_TAG,
)
from asyncdag.function_modifiers._validation import (
    HAMILTON_DATA_VALIDATOR_ORIGINAL_OUTPUT_TAG as HAMILTON_DATA_VALIDATOR_ORIGINAL_OUTPUT_TAG,
)
from asyncdag.function_modifiers._validation import (
    HAMILTON_IS_DATA_VALIDATOR_TAG as HAMILTON_IS_DATA_VALIDATOR_TAG,
)
from asyncdag.function_modifiers._validation import IS_DATA_VALIDATOR_TAG as IS_DATA_VALIDATOR_TAG
from asyncdag.function_modifiers._validation import check_output as check_output
from asyncdag.function_modifiers._validation import check_output_custom as check_output_custom

__all__ = [
    "DATA_VALIDATOR_ORIGINAL_OUTPUT_TAG",
    "HAMILTON_DATA_VALIDATOR_ORIGINAL_OUTPUT_TAG",
    "HAMILTON_IS_DATA_VALIDATOR_TAG",
    "IS_DATA_VALIDATOR_TAG",
    "check_output",
    "check_output_custom",
]
