"""How a result becomes bytes and back: pickle by default, the formats ``@cache(format=)`` names.

Every format is checked when the value is stored: a value that the format would give back
changed (a dict with int keys through JSON, a frame whose dtypes CSV loses) is stored as a
pickle instead, with a warning, so that a hit always returns what the node returned.
"""

from __future__ import annotations

import importlib.util
import io
import json
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cloudpickle

__all__ = ["FORMATS", "Format", "FormatError", "check_format", "get_format"]


class FormatError(Exception):
    """A value the chosen format cannot hold exactly."""


@dataclass(frozen=True)
class Format:
    name: str
    extension: str
    encode: Callable[[Any], bytes]
    decode: Callable[[bytes], Any]
    needs: tuple[str, ...] = ()  # importable modules the format needs
    exact: Callable[[Any, Any], bool] | None = None  # decoded == original?

    def available(self) -> str | None:
        """``None`` when usable, else what to install."""
        missing = [m for m in self.needs if importlib.util.find_spec(m) is None]
        return " and ".join(missing) if missing else None


def _pickle_encode(value: Any) -> bytes:
    try:
        return pickle.dumps(value, protocol=5)
    except Exception:  # lambdas, local classes: cloudpickle pickles them by value
        return bytes(cloudpickle.dumps(value, protocol=5))


def _json_encode(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, allow_nan=True).encode()


def _frame(value: Any) -> Any:
    import pandas as pd

    if not isinstance(value, pd.DataFrame):
        raise FormatError(f"this format holds pandas DataFrames, not {type(value).__qualname__}")
    return value


def _frames_equal(a: Any, b: Any) -> bool:
    try:
        return bool(a.equals(b)) and list(a.columns) == list(b.columns) and a.index.equals(b.index)
    except Exception:
        return False


def _csv_encode(value: Any) -> bytes:
    text: str = _frame(value).to_csv(index=True)
    return text.encode()


def _csv_decode(data: bytes) -> Any:
    import pandas as pd

    return pd.read_csv(io.BytesIO(data), index_col=0)


def _pyarrow_codec(kind: str) -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]]:
    def encode(value: Any) -> bytes:
        buf = io.BytesIO()
        getattr(_frame(value), f"to_{kind}")(buf)
        return buf.getvalue()

    def decode(data: bytes) -> Any:
        import pandas as pd

        return getattr(pd, f"read_{kind}")(io.BytesIO(data))

    return encode, decode


def _excel_encode(value: Any) -> bytes:
    buf = io.BytesIO()
    _frame(value).to_excel(buf)
    return buf.getvalue()


def _excel_decode(data: bytes) -> Any:
    import pandas as pd

    return pd.read_excel(io.BytesIO(data), index_col=0)


_parquet = _pyarrow_codec("parquet")
_feather = _pyarrow_codec("feather")
_orc = _pyarrow_codec("orc")

FORMATS: dict[str, Format] = {
    "pickle": Format("pickle", "pickle", _pickle_encode, pickle.loads),
    "json": Format("json", "json", _json_encode, json.loads, exact=lambda a, b: a == b),
    "csv": Format("csv", "csv", _csv_encode, _csv_decode, ("pandas",), _frames_equal),
    "parquet": Format(
        "parquet", "parquet", _parquet[0], _parquet[1], ("pandas", "pyarrow"), _frames_equal
    ),
    "feather": Format(
        "feather", "feather", _feather[0], _feather[1], ("pandas", "pyarrow"), _frames_equal
    ),
    "orc": Format("orc", "orc", _orc[0], _orc[1], ("pandas", "pyarrow"), _frames_equal),
    "excel": Format(
        "excel", "xlsx", _excel_encode, _excel_decode, ("pandas", "openpyxl"), _frames_equal
    ),
}


def check_format(name: str) -> str | None:
    """``None`` if ``name`` is a usable format, else a message saying what is wrong."""
    fmt = FORMATS.get(name)
    if fmt is None:
        return f"unknown cache format {name!r}; choose one of {sorted(FORMATS)}"
    missing = fmt.available()
    if missing is not None:
        return f"cache format {name!r} needs {missing}: pip install {missing.replace(' and ', ' ')}"
    return None


def get_format(name: str) -> Format:
    return FORMATS[name]


def encode(name: str, value: Any) -> tuple[str, bytes]:
    """(format actually used, bytes). Raises :class:`FormatError` when the format cannot
    hold the value exactly, and whatever pickling raises for a value that cannot be pickled.
    """
    fmt = FORMATS[name]
    data = fmt.encode(value)
    if fmt.exact is not None:
        try:
            back = fmt.decode(data)
        except Exception as exc:
            raise FormatError(f"{name} cannot read back what it wrote: {exc}") from exc
        if not fmt.exact(value, back):
            raise FormatError(f"{name} would not give this value back unchanged")
    return fmt.name, data
