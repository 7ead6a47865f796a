"""What a wrapper knows of its node: behaviour, how each dependency enters the key, the key."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from typing import Any

from asyncdag.caching._behavior import CachingBehavior
from asyncdag.caching._fingerprint import data_version, sequence_version
from asyncdag.caching._keys import key_prefix
from asyncdag.caching._runs import RunState
from asyncdag.caching._store import Store

__all__ = ["NodeSpec", "Role"]


class Role(enum.IntEnum):
    """How a dependency enters the key."""

    VALUE = 0  # its data version
    COLLECT = 1  # a Collect[...] list: the versions of its items, in order
    IGNORE = 2  # left out (an IGNORE node, a per-worker resource)
    DISABLE = 3  # a DISABLE node: the key cannot be known, nothing is stored
    STREAM = 4  # a streaming collect: the node always runs


class NodeSpec:
    """What a wrapper knows of its node; made at plan time, pickled with the wrapper."""

    __slots__ = (
        "_hash",
        "behavior",
        "cache_failures",
        "code",
        "deps",
        "fmt",
        "in_block",
        "name",
        "node_key",
        "prefix",
        "store",
        "streaming",
        "uid",
    )

    def __init__(
        self,
        *,
        name: str,
        code: str,
        behavior: CachingBehavior,
        deps: tuple[tuple[str, Role], ...],
        fmt: str,
        store: Store,
        uid: int,
        in_block: bool,
        cache_failures: bool,
    ) -> None:
        self.name = name
        self.code = code
        self.node_key = (name, code)
        self.prefix = key_prefix(name, code)
        self._hash = hashlib.blake2b(self.prefix.encode(), digest_size=16)
        self.behavior = behavior
        self.deps = tuple(sorted(deps))
        self.fmt = fmt
        self.store = store
        self.uid = uid
        self.in_block = in_block
        self.cache_failures = cache_failures
        self.streaming = any(role is Role.STREAM for _, role in deps)

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__ if name != "_hash"}

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)
        self._hash = hashlib.blake2b(self.prefix.encode(), digest_size=16)

    @property
    def lookup(self) -> bool:
        return self.behavior is CachingBehavior.DEFAULT

    def key(self, kwargs: Mapping[str, Any], state: RunState | None) -> str | None:
        """The cache key of this call, or ``None`` when it cannot be known."""
        if self.streaming:
            return None
        version = state.version_of if state is not None else data_version
        parts = [""]  # the prefix is in ``_hash`` already
        for name, role in self.deps:
            value = kwargs.get(name, _ABSENT)
            if value is _ABSENT:
                continue  # an optional input not given: the function's default
            if role is Role.VALUE:
                v = version(value)
            elif role is Role.COLLECT:
                v = sequence_version([version(x) for x in value])
            elif role is Role.IGNORE:
                continue
            else:
                return None
            if v[0] == "<":  # unhashable: a key that would hit wrongly, or never
                return None
            parts.append(name)
            parts.append(v)
        h = self._hash.copy()
        h.update("\0".join(parts).encode("utf-8", "surrogatepass"))
        return h.hexdigest()


_ABSENT = object()
