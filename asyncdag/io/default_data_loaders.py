"""The built-in loaders and savers: json, pickle, text and bytes files, environment variables,
literal values and in-memory results.

File adapters are async: their nodes read and write with aiofiles, so a run under
``aexecute`` never waits on a disk in the event loop's thread. Each also has the sync method
Hamilton's API names (``load_data`` / ``save_data``), for direct use.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import pickle
from collections.abc import Collection
from typing import Any

import aiofiles

from asyncdag.io.data_adapters import DataLoader, DataSaver
from asyncdag.io.utils import get_file_metadata

__all__ = [
    "DATA_ADAPTERS",
    "EnvVarDataLoader",
    "InMemoryResult",
    "JSONDataLoader",
    "JSONDataSaver",
    "LiteralValueDataLoader",
    "PickleLoader",
    "PickleSaver",
    "RawFileDataLoader",
    "RawFileDataLoaderBytes",
    "RawFileDataSaver",
    "RawFileDataSaverBytes",
    "read_bytes",
    "write_bytes",
]

Path = str | os.PathLike[str]


async def read_bytes(path: Path) -> bytes:
    """A file's bytes, read with aiofiles."""
    async with aiofiles.open(os.fspath(path), "rb") as f:
        data: bytes = await f.read()
    return data


async def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a file with aiofiles."""
    async with aiofiles.open(os.fspath(path), "wb") as f:
        await f.write(data)


@dataclasses.dataclass
class JSONDataLoader(DataLoader):
    """``load_from.json(path=...)``: a JSON file as a dict or list."""

    path: Path

    @classmethod
    def applicable_types(cls) -> Collection[Any]:
        return [dict, list]

    @classmethod
    def name(cls) -> str:
        return "json"

    def load_data(self, type_: Any) -> tuple[Any, dict[str, Any]]:
        with open(self.path, encoding="utf-8") as f:
            return json.load(f), get_file_metadata(self.path)

    async def aload_data(self, type_: Any) -> tuple[Any, dict[str, Any]]:
        return json.loads(await read_bytes(self.path)), get_file_metadata(self.path)


@dataclasses.dataclass
class JSONDataSaver(DataSaver):
    """``save_to.json(path=...)``: a dict or list written as JSON."""

    path: Path
    indent: int | None = None

    @classmethod
    def applicable_types(cls) -> Collection[Any]:
        return [dict, list]

    @classmethod
    def name(cls) -> str:
        return "json"

    def save_data(self, data: Any) -> dict[str, Any]:
        with open(self.path, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=self.indent)
        return get_file_metadata(self.path)

    async def asave_data(self, data: Any) -> dict[str, Any]:
        await write_bytes(self.path, json.dumps(data, indent=self.indent).encode())
        return get_file_metadata(self.path)


@dataclasses.dataclass
class RawFileDataLoader(DataLoader):
    """``load_from.file(path=...)``: a text file as a string."""

    path: Path
    encoding: str = "utf-8"

    @classmethod
    def applicable_types(cls) -> Collection[Any]:
        return [str]

    @classmethod
    def name(cls) -> str:
        return "file"

    def load_data(self, type_: Any) -> tuple[str, dict[str, Any]]:
        with open(self.path, encoding=self.encoding) as f:
            return f.read(), get_file_metadata(self.path)

    async def aload_data(self, type_: Any) -> tuple[str, dict[str, Any]]:
        return (await read_bytes(self.path)).decode(self.encoding), get_file_metadata(self.path)


@dataclasses.dataclass
class RawFileDataLoaderBytes(DataLoader):
    """``load_from.file(path=...)`` into a ``bytes`` parameter: the file's bytes."""

    path: Path

    @classmethod
    def applicable_types(cls) -> Collection[Any]:
        return [bytes]

    @classmethod
    def name(cls) -> str:
        return "file"

    def load_data(self, type_: Any) -> tuple[bytes, dict[str, Any]]:
        with open(self.path, "rb") as f:
            return f.read(), get_file_metadata(self.path)

    async def aload_data(self, type_: Any) -> tuple[bytes, dict[str, Any]]:
        return await read_bytes(self.path), get_file_metadata(self.path)


@dataclasses.dataclass
class RawFileDataSaver(DataSaver):
    """``save_to.file(path=...)``: a string written as a text file."""

    path: Path
    encoding: str = "utf-8"

    @classmethod
    def applicable_types(cls) -> Collection[Any]:
        return [str]

    @classmethod
    def name(cls) -> str:
        return "file"

    def save_data(self, data: Any) -> dict[str, Any]:
        with open(self.path, "w", encoding=self.encoding) as f:
            f.write(data)
        return get_file_metadata(self.path)

    async def asave_data(self, data: Any) -> dict[str, Any]:
        await write_bytes(self.path, data.encode(self.encoding))
        return get_file_metadata(self.path)


@dataclasses.dataclass
class RawFileDataSaverBytes(DataSaver):
    """``save_to.file(path=...)`` for ``bytes`` (or ``io.BytesIO``): written as they are."""

    path: Path

    @classmethod
    def applicable_types(cls) -> Collection[Any]:
        return [bytes, io.BytesIO]

    @classmethod
    def name(cls) -> str:
        return "file"

    @staticmethod
    def _bytes(data: Any) -> bytes:
        return data.getvalue() if isinstance(data, io.BytesIO) else bytes(data)

    def save_data(self, data: Any) -> dict[str, Any]:
        with open(self.path, "wb") as f:
            f.write(self._bytes(data))
        return get_file_metadata(self.path)

    async def asave_data(self, data: Any) -> dict[str, Any]:
        await write_bytes(self.path, self._bytes(data))
        return get_file_metadata(self.path)


@dataclasses.dataclass
class PickleLoader(DataLoader):
    """``load_from.pickle(path=...)``: any pickled object."""

    path: Path

    @classmethod
    def applicable_types(cls) -> Collection[Any]:
        return [object, Any]

    @classmethod
    def name(cls) -> str:
        return "pickle"

    def load_data(self, type_: Any) -> tuple[Any, dict[str, Any]]:
        with open(self.path, "rb") as f:
            return pickle.load(f), get_file_metadata(self.path)

    async def aload_data(self, type_: Any) -> tuple[Any, dict[str, Any]]:
        return pickle.loads(await read_bytes(self.path)), get_file_metadata(self.path)


@dataclasses.dataclass
class PickleSaver(DataSaver):
    """``save_to.pickle(path=...)``: any picklable object."""

    path: Path

    @classmethod
    def applicable_types(cls) -> Collection[Any]:
        return [object]

    @classmethod
    def name(cls) -> str:
        return "pickle"

    def save_data(self, data: Any) -> dict[str, Any]:
        with open(self.path, "wb") as f:
            pickle.dump(data, f)
        return get_file_metadata(self.path)

    async def asave_data(self, data: Any) -> dict[str, Any]:
        await write_bytes(self.path, pickle.dumps(data))
        return get_file_metadata(self.path)


@dataclasses.dataclass
class EnvVarDataLoader(DataLoader):
    """``load_from.environment(names=("A", "B"))``: those environment variables as a dict."""

    names: tuple[str, ...]

    @classmethod
    def applicable_types(cls) -> Collection[Any]:
        return [dict]

    @classmethod
    def name(cls) -> str:
        return "environment"

    def load_data(self, type_: Any) -> tuple[dict[str, str], dict[str, Any]]:
        return {n: os.environ[n] for n in self.names}, {}


@dataclasses.dataclass
class LiteralValueDataLoader(DataLoader):
    """``from_.literal(target=..., value=...)``: the value itself."""

    value: Any

    @classmethod
    def applicable_types(cls) -> Collection[Any]:
        return [Any]

    @classmethod
    def name(cls) -> str:
        return "literal"

    def load_data(self, type_: Any) -> tuple[Any, dict[str, Any]]:
        return self.value, {}


@dataclasses.dataclass
class InMemoryResult(DataSaver):
    """``to.memory(...)``: returns the data itself instead of writing it anywhere."""

    @classmethod
    def applicable_types(cls) -> Collection[Any]:
        return [Any]

    @classmethod
    def name(cls) -> str:
        return "memory"

    def save_data(self, data: Any) -> Any:
        return data


DATA_ADAPTERS: list[type[DataLoader] | type[DataSaver]] = [
    JSONDataSaver,
    JSONDataLoader,
    LiteralValueDataLoader,
    RawFileDataLoader,
    RawFileDataLoaderBytes,
    RawFileDataSaver,
    RawFileDataSaverBytes,
    PickleLoader,
    PickleSaver,
    EnvVarDataLoader,
    InMemoryResult,
]
