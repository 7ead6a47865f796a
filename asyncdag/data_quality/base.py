"""Validator base classes at Hamilton's import path ``data_quality.base``.

Example::

    from asyncdag.data_quality.base import DataValidator, ValidationResult
"""

from asyncdag.function_modifiers import (
    AsyncDataValidator,
    BaseDefaultValidator,
    DataValidationError,
    DataValidator,
    ValidationResult,
)

__all__ = [
    "AsyncDataValidator",
    "BaseDefaultValidator",
    "DataValidationError",
    "DataValidator",
    "ValidationResult",
]
