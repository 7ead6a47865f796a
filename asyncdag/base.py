"""Result builders: what ``execute`` returns, with Hamilton's names (``hamilton.base``).

A result builder turns a run's ``{output: value}`` into the value ``execute`` / ``aexecute``
return. Give it to the driver as an adapter, or wrapped in a graph adapter as legacy code
does::

    from asyncdag import base, driver

    dr = driver.Builder().with_modules(m).with_adapters(base.PandasDataFrameResult()).build()
    df = dr.execute(["spend", "signups"], inputs={...})          # a pandas DataFrame

    dr = driver.Driver({}, m, adapter=base.SimplePythonGraphAdapter(base.DictResult()))

Without one, ``Builder().build()`` drivers return the dict, and the legacy constructor
``Driver(config, *modules)`` returns a DataFrame, as in Hamilton. pandas and numpy are
imported only by the builders that need them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from asyncdag.lifecycle.api import GraphAdapter, LegacyResultMixin, ResultBuilder

__all__ = [
    "DefaultAdapter",
    "DictResult",
    "HamiltonGraphAdapter",
    "NumpyMatrixResult",
    "PandasDataFrameResult",
    "ResultBuilder",
    "ResultMixin",
    "SimplePythonDataFrameGraphAdapter",
    "SimplePythonGraphAdapter",
    "StrictIndexTypePandasDataFrameResult",
]

logger = logging.getLogger("asyncdag.base")


class ResultMixin(LegacyResultMixin):
    """Base of Hamilton-style result builders: override ``build_result(**outputs)``."""


def _pandas() -> Any:
    try:
        import pandas
    except ImportError as exc:  # pragma: no cover - pandas is in the dev environment
        raise ImportError(
            "PandasDataFrameResult needs pandas: pip install 'asyncdag[pandas]'. Or return"
            " plain dicts with base.DictResult() (the Builder's default)."
        ) from exc
    return pandas


class DictResult(ResultMixin):
    """The outputs as a dict, ``{output: value}``, in the order they were asked for."""

    @staticmethod
    def build_result(**outputs: Any) -> dict[str, Any]:
        return dict(outputs)

    def output_type(self) -> Any:
        return dict[str, Any]


def _index_kind(value: Any, pd: Any) -> str | None:
    if isinstance(value, pd.DataFrame | pd.Series):
        return f"{type(value.index).__name__}:{value.index.dtype}"
    if isinstance(value, pd.Index):
        return "RangeIndex:int64"
    return None


def _index_report(outputs: Mapping[str, Any], pd: Any) -> tuple[dict[str, list[str]], list[str]]:
    """(outputs by index kind, outputs without an index)."""
    by_kind: dict[str, list[str]] = {}
    without: list[str] = []
    for name, value in outputs.items():
        kind = _index_kind(value, pd)
        if kind is None:
            without.append(name)
        else:
            by_kind.setdefault(kind, []).append(name)
    return by_kind, without


class PandasDataFrameResult(ResultMixin):
    """The outputs as one pandas DataFrame, one column per output, joined on the index.

    - a single DataFrame output is returned as it is;
    - outputs that are all scalars make a one-row frame;
    - DataFrame outputs among others are spread into columns named ``output.column``;
    - otherwise ``pd.DataFrame(outputs)`` (an outer join of the Series on their index).

    Outputs whose index types differ are joined anyway, with a warning in the log.
    """

    @staticmethod
    def check_pandas_index_types_match(outputs: Mapping[str, Any]) -> bool:
        """Whether all indexed outputs share one index type (logs a warning when not)."""
        pd = _pandas()
        by_kind, without = _index_report(outputs, pd)
        if len(by_kind) > 1:
            logger.warning(
                "outputs have different index types (%s); check that the joined DataFrame is"
                " what you expect",
                ", ".join(f"{k}: {v}" for k, v in by_kind.items()),
            )
            return False
        if by_kind and without:
            logger.debug("outputs %s have no index and are broadcast", without)
        return True

    @staticmethod
    def build_result(**outputs: Any) -> Any:
        pd = _pandas()
        PandasDataFrameResult.check_pandas_index_types_match(outputs)
        if len(outputs) == 1:
            (only,) = outputs.values()
            if isinstance(only, pd.DataFrame):
                return only
        if not any(pd.api.types.is_list_like(v) for v in outputs.values()):
            return pd.DataFrame([outputs])
        if any(isinstance(v, pd.DataFrame) for v in outputs.values()):
            return PandasDataFrameResult.build_dataframe_with_dataframes(outputs)
        return pd.DataFrame(outputs)

    @staticmethod
    def build_dataframe_with_dataframes(outputs: Mapping[str, Any]) -> Any:
        """Spread DataFrame outputs into ``output.column`` columns, then join everything."""
        pd = _pandas()
        columns: dict[str, Any] = {}
        for name, value in outputs.items():
            if isinstance(value, pd.DataFrame):
                for column, series in value.items():
                    columns[f"{name}.{column}"] = series
                continue
            if name in columns:
                raise ValueError(
                    f"output {name!r} collides with a column of a DataFrame output; rename the"
                    " node or the column"
                )
            columns[name] = value
        return pd.DataFrame(columns)

    def output_type(self) -> Any:
        return _pandas().DataFrame


class StrictIndexTypePandasDataFrameResult(PandasDataFrameResult):
    """Like :class:`PandasDataFrameResult`, but raises ``ValueError`` when index types differ."""

    @staticmethod
    def build_result(**outputs: Any) -> Any:
        if not PandasDataFrameResult.check_pandas_index_types_match(outputs):
            by_kind, _ = _index_report(outputs, _pandas())
            raise ValueError(
                "the outputs' pandas index types differ: "
                + "; ".join(f"{k}: {v}" for k, v in by_kind.items())
                + ". Make them agree, or use PandasDataFrameResult to join them anyway."
            )
        return PandasDataFrameResult.build_result(**outputs)


class NumpyMatrixResult(ResultMixin):
    """The outputs as the columns of a numpy matrix; scalars are repeated down their column."""

    @staticmethod
    def build_result(**outputs: Any) -> Any:
        import numpy as np

        rows = None
        for name, value in outputs.items():
            if isinstance(value, int | float):
                continue
            if rows is None:
                rows = len(value)
            elif len(value) != rows:
                raise ValueError(
                    f"output {name!r} has {len(value)} values where the others have {rows}"
                )
        rows = 1 if rows is None else rows
        columns = [
            [value] * rows if isinstance(value, int | float) else list(value)
            for value in outputs.values()
        ]
        return np.asmatrix(columns).T

    def output_type(self) -> Any:
        import numpy as np

        return np.matrix


class HamiltonGraphAdapter(GraphAdapter):
    """Hamilton's legacy graph-adapter base: a result builder that may also run nodes."""

    @staticmethod
    def build_result(**outputs: Any) -> Any:
        return dict(outputs)


class SimplePythonDataFrameGraphAdapter(HamiltonGraphAdapter):
    """Runs nodes as they are and returns a DataFrame (Hamilton's original adapter)."""

    _plain_node_call = True

    @staticmethod
    def build_result(**outputs: Any) -> Any:
        return PandasDataFrameResult.build_result(**outputs)

    def execute_node(self, node: Any, kwargs: dict[str, Any]) -> Any:
        return node.callable(**kwargs)


class SimplePythonGraphAdapter(SimplePythonDataFrameGraphAdapter):
    """Runs nodes as they are and returns what ``result_builder`` builds (a dict by default)."""

    _plain_node_call = True

    def __init__(self, result_builder: ResultBuilder | None = None) -> None:
        self.result_builder = result_builder if result_builder is not None else DictResult()

    def build_result(self, **outputs: Any) -> Any:  # type: ignore[override]
        return self.result_builder.build_result(**outputs)

    def output_type(self) -> Any:
        return self.result_builder.output_type()


class DefaultAdapter(SimplePythonGraphAdapter):
    """``SimplePythonGraphAdapter`` with a :class:`DictResult`."""
