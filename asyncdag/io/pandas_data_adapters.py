"""pandas loaders and savers: csv (pandas), parquet and feather (pandas + pyarrow).

Registered when pandas is installed. Their nodes are async: the file's bytes are read or
written with aiofiles on the event loop, and pandas parses or serializes them on a worker
thread, so neither the disk nor the parsing holds the loop.
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import os
from collections.abc import Callable, Collection
from typing import Any

import anyio.to_thread

from asyncdag.io.data_adapters import DataLoader, DataSaver
from asyncdag.io.default_data_loaders import read_bytes, write_bytes
from asyncdag.io.utils import get_file_and_dataframe_metadata


def _pd() -> Any:
    """pandas, imported the first time an adapter is used: importing asyncdag does not pay
    for it (it is most of the import time and of the objects the collector tracks)."""
    return importlib.import_module("pandas")


__all__ = [
    "PANDAS_ADAPTERS",
    "PandasCSVReader",
    "PandasCSVWriter",
    "PandasFeatherReader",
    "PandasFeatherWriter",
    "PandasParquetReader",
    "PandasParquetWriter",
]

Path = str | os.PathLike[str]


def _given(adapter: Any, skip: tuple[str, ...] = ("path",)) -> dict[str, Any]:
    """The adapter's parameters that differ from ``None``: passed on to pandas."""
    return {
        f.name: getattr(adapter, f.name)
        for f in dataclasses.fields(adapter)
        if f.name not in skip and getattr(adapter, f.name) is not None
    }


class _PandasLoader(DataLoader):
    path: Path

    @classmethod
    def applicable_types(cls) -> Collection[Any]:
        return [_pd().DataFrame]

    def _parse(self, source: Any) -> Any:
        raise NotImplementedError

    def load_data(self, type_: Any) -> tuple[Any, dict[str, Any]]:
        df = self._parse(os.fspath(self.path))
        return df, get_file_and_dataframe_metadata(self.path, df)

    async def aload_data(self, type_: Any) -> tuple[Any, dict[str, Any]]:
        raw = await read_bytes(self.path)
        df = await anyio.to_thread.run_sync(self._parse, io.BytesIO(raw))
        return df, get_file_and_dataframe_metadata(self.path, df)


class _PandasSaver(DataSaver):
    path: Path

    @classmethod
    def applicable_types(cls) -> Collection[Any]:
        return [_pd().DataFrame]

    def _write(self, data: Any, target: Any) -> None:
        raise NotImplementedError

    def save_data(self, data: Any) -> dict[str, Any]:
        self._write(data, os.fspath(self.path))
        return get_file_and_dataframe_metadata(self.path, data)

    async def asave_data(self, data: Any) -> dict[str, Any]:
        def serialize() -> bytes:
            buffer = io.BytesIO()
            self._write(data, buffer)
            return buffer.getvalue()

        await write_bytes(self.path, await anyio.to_thread.run_sync(serialize))
        return get_file_and_dataframe_metadata(self.path, data)


@dataclasses.dataclass
class PandasCSVReader(_PandasLoader):
    """``load_from.csv(path=..., sep=";")``: ``pandas.read_csv``."""

    path: Path
    sep: str | None = ","
    delimiter: str | None = None
    header: Any = "infer"
    names: list[str] | None = None
    index_col: Any = None
    usecols: list[Any] | None = None
    dtype: Any = None
    skiprows: Any = None
    nrows: int | None = None
    na_values: Any = None
    parse_dates: Any = None
    encoding: str | None = None
    decimal: str | None = None
    thousands: str | None = None
    comment: str | None = None
    converters: dict[Any, Callable[..., Any]] | None = None

    @classmethod
    def name(cls) -> str:
        return "csv"

    def _parse(self, source: Any) -> Any:
        return _pd().read_csv(source, **_given(self))


@dataclasses.dataclass
class PandasCSVWriter(_PandasSaver):
    """``save_to.csv(path=...)``: ``DataFrame.to_csv`` (without the index by default)."""

    path: Path
    sep: str = ","
    na_rep: str = ""
    float_format: str | None = None
    columns: list[Any] | None = None
    header: bool | list[str] = True
    index: bool = False
    index_label: Any = None
    encoding: str | None = None
    date_format: str | None = None
    decimal: str = "."

    @classmethod
    def name(cls) -> str:
        return "csv"

    def _write(self, data: Any, target: Any) -> None:
        options = _given(self)
        if not isinstance(target, str):
            options.pop("encoding", None)
            text = data.to_csv(None, **options)
            target.write(text.encode(self.encoding or "utf-8"))
            return
        data.to_csv(target, **options)


@dataclasses.dataclass
class PandasParquetReader(_PandasLoader):
    """``load_from.parquet(path=...)``: ``pandas.read_parquet`` (needs pyarrow)."""

    path: Path
    engine: str | None = None
    columns: list[str] | None = None
    filters: Any = None

    @classmethod
    def name(cls) -> str:
        return "parquet"

    def _parse(self, source: Any) -> Any:
        return _pd().read_parquet(source, **_given(self))


@dataclasses.dataclass
class PandasParquetWriter(_PandasSaver):
    """``save_to.parquet(path=...)``: ``DataFrame.to_parquet`` (needs pyarrow)."""

    path: Path
    engine: str | None = None
    compression: str | None = "snappy"
    index: bool | None = None

    @classmethod
    def name(cls) -> str:
        return "parquet"

    def _write(self, data: Any, target: Any) -> None:
        data.to_parquet(target, **_given(self))


@dataclasses.dataclass
class PandasFeatherReader(_PandasLoader):
    """``load_from.feather(path=...)``: ``pandas.read_feather`` (needs pyarrow)."""

    path: Path
    columns: list[str] | None = None
    use_threads: bool = True

    @classmethod
    def name(cls) -> str:
        return "feather"

    def _parse(self, source: Any) -> Any:
        return _pd().read_feather(source, **_given(self))


@dataclasses.dataclass
class PandasFeatherWriter(_PandasSaver):
    """``save_to.feather(path=...)``: ``DataFrame.to_feather`` (needs pyarrow)."""

    path: Path
    compression: str | None = None

    @classmethod
    def name(cls) -> str:
        return "feather"

    def _write(self, data: Any, target: Any) -> None:
        data.to_feather(target, **_given(self))


PANDAS_ADAPTERS: list[type[DataLoader] | type[DataSaver]] = [
    PandasCSVReader,
    PandasCSVWriter,
    PandasParquetReader,
    PandasParquetWriter,
    PandasFeatherReader,
    PandasFeatherWriter,
]
