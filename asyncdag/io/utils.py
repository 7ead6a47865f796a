"""Metadata that loaders and savers return (Hamilton's ``hamilton.io.utils`` keys)."""

from __future__ import annotations

import os
import time
from typing import Any

__all__ = [
    "DATAFRAME_METADATA",
    "FILE_METADATA",
    "get_dataframe_metadata",
    "get_file_and_dataframe_metadata",
    "get_file_metadata",
]

FILE_METADATA = "file_metadata"
DATAFRAME_METADATA = "dataframe_metadata"


def get_file_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``{"file_metadata": {"path", "size", "last_modified", "timestamp", ...}}`` for a file."""
    text = os.fspath(path)
    exists = os.path.exists(text)
    return {
        FILE_METADATA: {
            "path": text,
            "size": os.path.getsize(text) if exists else None,
            "last_modified": os.path.getmtime(text) if exists else None,
            "timestamp": time.time(),
            "scheme": "",
            "notes": "" if exists else f"{text} does not exist",
            "__version__": "1.0.0",
        }
    }


def get_dataframe_metadata(df: Any) -> dict[str, Any]:
    """Rows, columns, column names and dtypes of a DataFrame-like value."""
    meta: dict[str, Any] = {"__version__": "1.0.0"}
    for key, read in (
        ("rows", lambda: len(df)),
        ("columns", lambda: len(df.columns)),
        ("column_names", lambda: [str(c) for c in df.columns]),
        ("datatypes", lambda: [str(t) for t in df.dtypes]),
    ):
        try:
            meta[key] = read()
        except (AttributeError, TypeError):
            meta[key] = None
    return {DATAFRAME_METADATA: meta}


def get_file_and_dataframe_metadata(path: str | os.PathLike[str], df: Any) -> dict[str, Any]:
    """Both of the above."""
    return {**get_file_metadata(path), **get_dataframe_metadata(df)}
