"""@check_output and @check_output_custom (Hamilton-written)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hamilton.data_quality.base import DataValidator, ValidationResult
from hamilton.function_modifiers import check_output, check_output_custom


class IsEven(DataValidator):
    def applies_to(self, datatype: type) -> bool:
        return datatype is int

    def description(self) -> str:
        return "the value is even"

    @classmethod
    def name(cls) -> str:
        return "is_even"

    def validate(self, dataset: int) -> ValidationResult:
        return ValidationResult(passes=dataset % 2 == 0, message=f"{dataset} checked for parity")


@check_output(range=(0, 10), importance="warn")
def warned(x: int) -> int:
    return x


@check_output(range=(0, 10), importance="fail")
def strict(x: int) -> int:
    return x


@check_output(data_type=np.int64, range=(0, 100), allow_nans=False, importance="fail")
def series(x: int) -> pd.Series:
    return pd.Series([x, x + 1])


@check_output(mean_in_range=(0, 50), max_standard_dev=10.0, importance="warn")
def spread(x: int) -> pd.Series:
    return pd.Series([0.0, float(x)])


@check_output_custom(IsEven(importance="fail"))
def doubled(x: int) -> int:
    return x * 2


@check_output(values_in=["small", "large"], data_type=str, importance="warn")
def size(x: int) -> str:
    return "small" if x < 5 else "huge"
