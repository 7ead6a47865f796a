"""Marker files: how code in a worker process tells the test that something happened.

A process-pool or cluster worker shares no memory with the test, so nodes and resources write
one small file per event into a directory the test passes as the ``marks`` input.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["count", "mark", "read"]


def mark(marks: str, name: str, text: str = "") -> None:
    """Record event ``name`` (one file; ``text`` defaults to this process's pid)."""
    path = Path(marks) / name
    tmp = path.with_name(f".{name}.tmp")
    tmp.write_text(text or str(os.getpid()))
    tmp.replace(path)  # atomic: a reader never sees a half-written marker


def read(marks: str | os.PathLike[str], prefix: str) -> dict[str, str]:
    """Every marker whose name starts with ``prefix``: name -> text."""
    return {p.name: p.read_text() for p in Path(marks).iterdir() if p.name.startswith(prefix)}


def count(marks: str | os.PathLike[str], prefix: str) -> int:
    return len(read(marks, prefix))
