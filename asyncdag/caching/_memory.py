"""Recent results in memory: data version -> (format, bytes), bounded by bytes."""

from __future__ import annotations

import threading
from collections import OrderedDict

__all__ = ["DEFAULT_MEMORY", "ValueCache"]

#: Bytes of recent results a store keeps in memory.
DEFAULT_MEMORY = 64 * 1024 * 1024


class ValueCache:
    """data version -> (format, bytes), oldest dropped first past ``max_bytes``.

    An ``OrderedDict``: dropping the oldest entry of a plain dict again and again makes each
    ``next(iter(d))`` step over every slot deleted before it (quadratic over a long run).
    """

    def __init__(self, max_bytes: int = DEFAULT_MEMORY) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._data: OrderedDict[str, tuple[str, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version: str) -> tuple[str, bytes] | None:
        return self._data.get(version)

    def put(self, version: str, fmt: str, data: bytes) -> None:
        size = len(data)
        if size > self.max_bytes // 8:
            return
        # No lock on this path (it runs once per stored result): threads racing may skew the
        # byte count a little, which only moves when the oldest entries are dropped.
        self._data[version] = (fmt, data)
        self.nbytes += size
        if self.nbytes > self.max_bytes:
            self._trim()

    def _trim(self) -> None:
        with self._lock:
            data = self._data
            while self.nbytes > self.max_bytes * 0.9 and data:
                try:
                    _, (_, dropped) = data.popitem(last=False)
                except KeyError:
                    break
                self.nbytes -= len(dropped)

    def discard(self, version: str) -> None:
        with self._lock:
            old = self._data.pop(version, None)
            if old is not None:
                self.nbytes -= len(old[1])

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.nbytes = 0

    def __len__(self) -> int:
        return len(self._data)
