"""Data validators: the checks ``@check_output`` runs on a node's value.

Write your own by subclassing :class:`DataValidator` (or :class:`AsyncDataValidator` when the
check awaits something) and pass instances to ``@check_output_custom``::

    class IsEven(DataValidator):
        def applies_to(self, datatype: type) -> bool:
            return datatype is int
        def description(self) -> str:
            return "the value is even"
        @classmethod
        def name(cls) -> str:
            return "is_even"
        def validate(self, dataset: int) -> ValidationResult:
            return ValidationResult(dataset % 2 == 0, f"{dataset} is odd")
"""

from __future__ import annotations

import abc
import enum
import inspect
import logging
import numbers
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_VALIDATORS",
    "AsyncDataValidator",
    "BaseDefaultValidator",
    "DataValidationError",
    "DataValidationLevel",
    "DataValidator",
    "ValidationResult",
    "act_on_results",
    "default_validators_for",
]

logger = logging.getLogger("asyncdag.data_quality")


class DataValidationError(Exception):
    """A ``@check_output`` check with importance ``"fail"`` did not pass.

    Raised inside the checked node, so a run reports it as the ``__cause__`` of a
    ``NodeExecutionError`` naming that node. ``failures`` lists one message per failed check.
    """

    def __init__(self, failures: Sequence[str]) -> None:
        super().__init__("\n".join(failures))
        self.failures = list(failures)


class DataValidationLevel(enum.Enum):
    """What a failed check does: log a warning, or fail the node."""

    WARN = "warn"
    FAIL = "fail"


@dataclass
class ValidationResult:
    """The outcome of one check on one value."""

    passes: bool
    message: str
    diagnostics: dict[str, Any] = field(default_factory=dict)


class DataValidator(abc.ABC):
    """Base class of a check; ``importance`` is ``"warn"`` or ``"fail"``."""

    def __init__(self, importance: str) -> None:
        self._importance = DataValidationLevel(importance)

    @property
    def importance(self) -> DataValidationLevel:
        return self._importance

    @abc.abstractmethod
    def applies_to(self, datatype: type) -> bool:
        """Whether the check can run on values of ``datatype``."""

    @abc.abstractmethod
    def description(self) -> str:
        """One sentence saying what is checked."""

    @classmethod
    @abc.abstractmethod
    def name(cls) -> str:
        """A short identifier; the validator node is named ``<node>_<name>``."""

    @abc.abstractmethod
    def validate(self, dataset: Any) -> ValidationResult:
        """Check ``dataset``."""


class AsyncDataValidator(DataValidator):
    """A check whose ``validate`` is a coroutine; its node runs on the event loop."""

    @abc.abstractmethod
    async def validate(self, dataset: Any) -> ValidationResult:  # type: ignore[override]
        """Check ``dataset``."""


def is_async_validator(validator: DataValidator) -> bool:
    return inspect.iscoroutinefunction(validator.validate)


def act_on_results(
    node_name: str, checks: Sequence[tuple[DataValidator, ValidationResult]]
) -> None:
    """Warn for failed ``warn`` checks; raise ``DataValidationError`` for failed ``fail`` ones."""
    failures = []
    for validator, result in checks:
        if result.passes:
            continue
        text = (
            f"[{node_name}:{validator.name()}] validator failed. Message was: {result.message}."
            f" Diagnostic information is: {result.diagnostics}."
        )
        if validator.importance is DataValidationLevel.WARN:
            logger.warning(text)
        else:
            logger.error(text)
            failures.append(text)
    if failures:
        raise DataValidationError(failures)


class BaseDefaultValidator(DataValidator):
    """A check ``@check_output`` builds from one keyword argument, named by :meth:`arg`."""

    @classmethod
    @abc.abstractmethod
    def arg(cls) -> str:
        """The ``@check_output`` keyword this validator answers to."""

    @classmethod
    def name(cls) -> str:
        return f"{cls.arg()}_validator"

    @classmethod
    def applies_to(cls, datatype: type) -> bool:
        return False


def _subclass(tp: Any, *bases: type) -> bool:
    return isinstance(tp, type) and issubclass(tp, bases)


def _is_series(tp: Any) -> bool:
    pandas = sys.modules.get("pandas")
    return pandas is not None and _subclass(tp, pandas.Series)


def _compute(data: Any) -> Any:
    return data.compute() if hasattr(data, "dask") else data


# -- values of plain Python types -----------------------------------------------------------


class DataTypeValidatorPrimitives(BaseDefaultValidator):
    """``data_type=int``: the value is an instance of the type."""

    def __init__(self, data_type: type, importance: str) -> None:
        super().__init__(importance)
        self.datatype = data_type

    @classmethod
    def arg(cls) -> str:
        return "data_type"

    @classmethod
    def applies_to(cls, datatype: type) -> bool:
        return _subclass(datatype, numbers.Real, str, bool, list, dict)

    def description(self) -> str:
        return f"Validates that the value is an instance of {self.datatype}"

    def validate(self, dataset: Any) -> ValidationResult:
        data = _compute(dataset)
        passes = isinstance(data, self.datatype)
        return ValidationResult(
            passes,
            f"Requires data type {self.datatype}; got {type(data)}.",
            {"required_data_type": self.datatype, "actual_data_type": type(data)},
        )


class DataInRangeValidatorPrimitives(BaseDefaultValidator):
    """``range=(low, high)``: the number is within the inclusive range."""

    def __init__(self, range: tuple[float, float], importance: str) -> None:
        super().__init__(importance)
        self.range = range

    @classmethod
    def arg(cls) -> str:
        return "range"

    @classmethod
    def applies_to(cls, datatype: type) -> bool:
        return _subclass(datatype, numbers.Real)

    def description(self) -> str:
        return f"Validates that the value lies within [{self.range[0]}, {self.range[1]}]"

    def validate(self, dataset: Any) -> ValidationResult:
        data = _compute(dataset)
        low, high = self.range
        passes = bool(low <= data <= high)
        verdict = "lies within" if passes else "lies outside"
        return ValidationResult(
            passes,
            f"Value {data} {verdict} the range [{low}, {high}]",
            {"range": self.range, "value": data},
        )


class DataInValuesValidatorPrimitives(BaseDefaultValidator):
    """``values_in=[...]``: the value is one of the listed values."""

    def __init__(self, values_in: Iterable[Any], importance: str) -> None:
        super().__init__(importance)
        self.values = frozenset(values_in)

    @classmethod
    def arg(cls) -> str:
        return "values_in"

    @classmethod
    def applies_to(cls, datatype: type) -> bool:
        return _subclass(datatype, numbers.Real, str)

    def description(self) -> str:
        return f"Validates that the value is one of {sorted(map(repr, self.values))}"

    def validate(self, dataset: Any) -> ValidationResult:
        data = _compute(dataset)
        passes = data in self.values
        text = "is one of the allowed values" if passes else f"is not in {set(self.values)}"
        return ValidationResult(
            passes,
            f"Value {data!r} {text}.",
            {"values": self.values, "incorrect_value": None if passes else data},
        )


class AllowNoneValidator(BaseDefaultValidator):
    """``allow_none=False``: the value is not ``None``."""

    def __init__(self, allow_none: bool, importance: str) -> None:
        super().__init__(importance)
        self.allow_none = allow_none

    @classmethod
    def arg(cls) -> str:
        return "allow_none"

    @classmethod
    def applies_to(cls, datatype: type) -> bool:
        return True

    def description(self) -> str:
        return "Accepts anything" if self.allow_none else "Validates that the value is not None"

    def validate(self, dataset: Any) -> ValidationResult:
        passes = self.allow_none or dataset is not None
        return ValidationResult(passes, "Value is not None" if passes else "Value is None")


class StrContainsValidator(BaseDefaultValidator):
    """``contains="x"`` (or a list): the string contains every substring."""

    def __init__(self, contains: str | list[str], importance: str) -> None:
        super().__init__(importance)
        self.contains = [contains] if isinstance(contains, str) else list(contains)

    @classmethod
    def arg(cls) -> str:
        return "contains"

    @classmethod
    def applies_to(cls, datatype: type) -> bool:
        return datatype is str

    def description(self) -> str:
        return f"Validates that the string contains {self.contains}"

    def validate(self, dataset: Any) -> ValidationResult:
        missing = [c for c in self.contains if c not in dataset]
        return ValidationResult(
            not missing,
            f"String lacks {missing}" if missing else "String contains every substring",
            {"missing": missing, "data": dataset[:100]} if missing else {},
        )


class StrDoesNotContainValidator(BaseDefaultValidator):
    """``does_not_contain="x"`` (or a list): the string contains none of the substrings."""

    def __init__(self, does_not_contain: str | list[str], importance: str) -> None:
        super().__init__(importance)
        self.does_not_contain = (
            [does_not_contain] if isinstance(does_not_contain, str) else list(does_not_contain)
        )

    @classmethod
    def arg(cls) -> str:
        return "does_not_contain"

    @classmethod
    def applies_to(cls, datatype: type) -> bool:
        return datatype is str

    def description(self) -> str:
        return f"Validates that the string contains none of {self.does_not_contain}"

    def validate(self, dataset: Any) -> ValidationResult:
        found = [c for c in self.does_not_contain if c in dataset]
        return ValidationResult(
            not found,
            f"String contains {found}" if found else "String contains none of the substrings",
            {"found": found, "data": dataset[:100]} if found else {},
        )


# -- pandas Series ----------------------------------------------------------------------------


class _SeriesValidator(BaseDefaultValidator):
    @classmethod
    def applies_to(cls, datatype: type) -> bool:
        return _is_series(datatype)


class DataTypeValidatorPandasSeries(_SeriesValidator):
    """``data_type=np.int64``: the Series' dtype is a sub-dtype of the given one."""

    def __init__(self, data_type: type, importance: str) -> None:
        super().__init__(importance)
        self.datatype = data_type

    @classmethod
    def arg(cls) -> str:
        return "data_type"

    def description(self) -> str:
        return f"Validates that the series' dtype is a subtype of {self.datatype}"

    def validate(self, dataset: Any) -> ValidationResult:
        import numpy as np

        dtype = getattr(dataset.dtype, "type", dataset.dtype)
        passes = bool(np.issubdtype(dtype, self.datatype))
        return ValidationResult(
            passes,
            f"Requires a subtype of {self.datatype}; the series has dtype {dtype}.",
            {"required_dtype": self.datatype, "actual_dtype": dtype},
        )


class DataInRangeValidatorPandasSeries(_SeriesValidator):
    """``range=(low, high)``: every value of the Series is within the inclusive range."""

    def __init__(self, range: tuple[float, float], importance: str) -> None:
        super().__init__(importance)
        self.range = range

    @classmethod
    def arg(cls) -> str:
        return "range"

    def description(self) -> str:
        return f"Validates that every value lies within [{self.range[0]}, {self.range[1]}]"

    def validate(self, dataset: Any) -> ValidationResult:
        low, high = self.range
        inside = int(dataset.between(low, high, inclusive="both").sum())
        outside = len(dataset) - inside
        return ValidationResult(
            outside == 0,
            f"Series has {inside} values within [{low}, {high}] and {outside} outside.",
            {"range": self.range, "in_range": inside, "out_range": outside},
        )


class DataInValuesValidatorPandasSeries(_SeriesValidator):
    """``values_in=[...]``: every non-missing value of the Series is one of the listed ones."""

    def __init__(self, values_in: Iterable[Any], importance: str) -> None:
        super().__init__(importance)
        self.values = frozenset(values_in)

    @classmethod
    def arg(cls) -> str:
        return "values_in"

    def description(self) -> str:
        return f"Validates that every value is one of {set(self.values)}, ignoring NA"

    def validate(self, dataset: Any) -> ValidationResult:
        wrong = ~(dataset.isin(self.values) | dataset.isna())
        count = int(wrong.sum())
        return ValidationResult(
            count == 0,
            f"Series has {count} values outside {set(self.values)}.",
            {"values": self.values, "incorrect_values_count": count},
        )


class MaxFractionNansValidatorPandasSeries(_SeriesValidator):
    """``max_fraction_nans=0.1``: at most that fraction of the Series is missing."""

    def __init__(self, max_fraction_nans: float, importance: str) -> None:
        super().__init__(importance)
        if not 0 <= max_fraction_nans <= 1:
            raise ValueError("max_fraction_nans must be within [0, 1]")
        self.max_fraction_nans = max_fraction_nans

    @classmethod
    def arg(cls) -> str:
        return "max_fraction_nans"

    def description(self) -> str:
        return f"Validates that at most {self.max_fraction_nans:.2%} of the values are NaN"

    def validate(self, dataset: Any) -> ValidationResult:
        total = len(dataset)
        missing = int(dataset.isna().sum())
        fraction = missing / total if total else 0.0
        return ValidationResult(
            fraction <= self.max_fraction_nans,
            f"{missing} of {total} values are NaN ({fraction:.2%});"
            f" at most {self.max_fraction_nans:.2%} allowed.",
            {"total_nan": missing, "total_length": total, "fraction_na": fraction},
        )


class AllowNaNsValidatorPandasSeries(MaxFractionNansValidatorPandasSeries):
    """``allow_nans=False``: no value of the Series is missing."""

    def __init__(self, allow_nans: bool, importance: str) -> None:
        if allow_nans:
            raise ValueError(
                "allow_nans=True checks nothing; leave it out or use max_fraction_nans"
            )
        super().__init__(0.0, importance)

    @classmethod
    def arg(cls) -> str:
        return "allow_nans"


class MaxStandardDevValidatorPandasSeries(_SeriesValidator):
    """``max_standard_dev=x``: the Series' standard deviation is at most ``x``."""

    def __init__(self, max_standard_dev: float, importance: str) -> None:
        super().__init__(importance)
        self.max_standard_dev = max_standard_dev

    @classmethod
    def arg(cls) -> str:
        return "max_standard_dev"

    def description(self) -> str:
        return f"Validates that the standard deviation is at most {self.max_standard_dev}"

    def validate(self, dataset: Any) -> ValidationResult:
        std = dataset.std()
        return ValidationResult(
            bool(std <= self.max_standard_dev),
            f"Standard deviation is {std}; at most {self.max_standard_dev} allowed.",
            {"standard_dev": std, "max_standard_dev": self.max_standard_dev},
        )


class MeanInRangeValidatorPandasSeries(_SeriesValidator):
    """``mean_in_range=(low, high)``: the Series' mean is within the inclusive range."""

    def __init__(self, mean_in_range: tuple[float, float], importance: str) -> None:
        super().__init__(importance)
        self.mean_in_range = mean_in_range

    @classmethod
    def arg(cls) -> str:
        return "mean_in_range"

    def description(self) -> str:
        low, high = self.mean_in_range
        return f"Validates that the mean lies within [{low}, {high}]"

    def validate(self, dataset: Any) -> ValidationResult:
        mean = dataset.mean()
        low, high = self.mean_in_range
        return ValidationResult(
            bool(low <= mean <= high),
            f"Mean is {mean}; required within [{low}, {high}].",
            {"dataset_mean": mean, "mean_in_range": self.mean_in_range},
        )


#: The validators ``@check_output`` chooses from, first match wins per (keyword, type).
DEFAULT_VALIDATORS: list[type[BaseDefaultValidator]] = [
    AllowNaNsValidatorPandasSeries,
    DataInRangeValidatorPandasSeries,
    DataInRangeValidatorPrimitives,
    DataInValuesValidatorPandasSeries,
    DataInValuesValidatorPrimitives,
    DataTypeValidatorPandasSeries,
    DataTypeValidatorPrimitives,
    MaxFractionNansValidatorPandasSeries,
    MaxStandardDevValidatorPandasSeries,
    MeanInRangeValidatorPandasSeries,
    AllowNoneValidator,
    StrContainsValidator,
    StrDoesNotContainValidator,
]


def default_validators_for(
    output_type: Any,
    importance: str,
    candidates: Sequence[type[BaseDefaultValidator]] | None = None,
    **kwargs: Any,
) -> list[BaseDefaultValidator]:
    """One validator per keyword that fits ``output_type``; ``LookupError`` names what does not."""
    pool: Sequence[type[BaseDefaultValidator]] = (
        DEFAULT_VALIDATORS if candidates is None else candidates
    )
    found: list[BaseDefaultValidator] = []
    for key, argument in kwargs.items():
        for cls in pool:
            if cls.arg() == key and cls.applies_to(output_type):
                found.append(cls(**{key: argument, "importance": importance}))
                break
        else:
            known = sorted({cls.arg() for cls in pool})
            raise LookupError(
                f"no validator for {key}={argument!r} on values of type {output_type!r};"
                f" the keywords are {known}, each for some types only"
            )
    return found
