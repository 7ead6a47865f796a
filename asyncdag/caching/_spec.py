"""What a wrapper knows of its node: behaviour, how each dependency enters the key, the key."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from typing import Any

from asyncdag.caching._behavior import CachingBehavior
from asyncdag.caching._fingerprint import (
    _FAST,
    _LITERAL_INT,
    data_version,
    digest,
    sequence_text,
    sequence_version,
)
from asyncdag.caching._keys import LITERAL_TAGS, key_prefix, short_key
from asyncdag.caching._runs import RunState, runs_of
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
        "_deps",
        "_hash",
        "_heads",
        "_keyless",
        "_plain",
        "_short",
        "_single",
        "behavior",
        "cache_failures",
        "code",
        "fmt",
        "in_block",
        "lookup",
        "name",
        "node_key",
        "prefix",
        "runs",
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
        self._short = digest(self.prefix.encode())
        self.behavior = behavior
        self.lookup = behavior is CachingBehavior.DEFAULT
        self.fmt = fmt
        self.store = store
        self.uid = uid
        self.in_block = in_block
        self.cache_failures = cache_failures
        self.runs = runs_of(uid)
        self.deps = deps

    @property
    def deps(self) -> tuple[tuple[str, Role], ...]:
        """``(name, role)`` of each dependency, in name order."""
        return self._deps

    @deps.setter
    def deps(self, deps: tuple[tuple[str, Role], ...]) -> None:
        # what the key of a call needs, settled once per node rather than once per call
        settled = tuple(sorted(deps))
        if getattr(self, "_deps", None) == settled:
            return  # (the adapter offers a plan's dependencies again as its nodes come)
        self._deps = settled
        roles = {role for _, role in self._deps}
        self.streaming = Role.STREAM in roles
        self._keyless = bool(roles & {Role.STREAM, Role.DISABLE})
        # every dependency versioned as it is (no Collect list): the common case, one loop
        self._plain = roles <= {Role.VALUE, Role.IGNORE}
        self._heads = tuple(
            (name, f"\0{name}\0") for name, role in self._deps if role is not Role.IGNORE
        )
        self._single = self._heads[0] if self._plain and len(self._heads) == 1 else None

    def __getstate__(self) -> dict[str, Any]:
        skip = ("_hash", "_short", "runs", "_heads", "_keyless", "_plain", "_single", "streaming")
        return {name: getattr(self, name) for name in self.__slots__ if name not in skip}

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        for name, value in state.items():
            if name == "_deps":
                self.deps = value
            else:
                setattr(self, name, value)
        self._hash = hashlib.blake2b(self.prefix.encode(), digest_size=16)
        self._short = digest(self.prefix.encode())
        self.runs = runs_of(self.uid)

    def key(self, kwargs: Mapping[str, Any], state: RunState | None) -> str | None:
        """The cache key of this call, or ``None`` when it cannot be known."""
        if self._keyless:
            return None
        single = self._single
        if single is not None:  # one dependency versioned as it is: the commonest case
            name, head = single
            value = kwargs.get(name, _ABSENT)
            if type(value) is int and -_LITERAL_INT < value < _LITERAL_INT:
                return f"{self._short}{name}=i{value}"  # a small int, the commonest item
            if value is _ABSENT:
                text = ""
            else:
                versioned = _FAST.get(type(value))
                if versioned is not None:
                    v = versioned(value)
                    if v[0] in LITERAL_TAGS:
                        return f"{self._short}{name}={v}"  # keys.short_key, inline
                else:
                    v = state.version_of(value) if state is not None else data_version(value)
                    if v[0] == "<":
                        return None
                    if v[0] in LITERAL_TAGS:
                        return f"{self._short}{name}={v}"
                text = head + v
            h = self._hash.copy()
            h.update(text.encode("utf-8", "surrogatepass"))
            return h.hexdigest()
        if self._plain:
            # the same text as the general loop below makes, without its role tests
            text = ""
            fast = _FAST.get
            n = 0
            last = last_version = ""
            for name, head in self._heads:
                value = kwargs.get(name, _ABSENT)
                if value is _ABSENT:
                    continue  # an optional input not given: the function's default
                versioned = fast(type(value))
                if versioned is not None:
                    v = versioned(value)
                else:
                    v = state.version_of(value) if state is not None else data_version(value)
                    if v[0] == "<":  # unhashable: a key that would hit wrongly, or never
                        return None
                text += head + v
                n += 1
                last, last_version = name, v
            if n == 1 and last_version[0] in LITERAL_TAGS:
                return f"{self._short}{last}={last_version}"  # keys.short_key, inline
            h = self._hash.copy()
            h.update(text.encode("utf-8", "surrogatepass"))
            return h.hexdigest()
        version = state.version_of if state is not None else data_version
        parts = [""]  # the prefix is in ``_hash`` already
        for name, role in self._deps:
            value = kwargs.get(name, _ABSENT)
            if value is _ABSENT:
                continue  # an optional input not given: the function's default
            if role is Role.VALUE:
                v = version(value)
            elif role is Role.COLLECT:
                v = _collect_version(value, version)
            elif role is Role.IGNORE:
                continue
            else:
                return None
            if v[0] == "<":  # unhashable: a key that would hit wrongly, or never
                return None
            parts.append(name)
            parts.append(v)
        if len(parts) == 3 and parts[2][0] in LITERAL_TAGS:
            return short_key(self._short, parts[1], parts[2])
        h = self._hash.copy()
        h.update("\0".join(parts).encode("utf-8", "surrogatepass"))
        return h.hexdigest()


_ABSENT = object()


def _collect_version(values: Any, version: Any) -> str:
    """The version of a ``Collect`` list: :func:`sequence_version` of its items' versions,
    made in one C loop for the common list of plain ints (the same text as item by item)."""
    if (
        type(values) is list
        and values
        and set(map(type, values)) == {int}
        and min(values) > -_LITERAL_INT
        and max(values) < _LITERAL_INT
    ):
        return sequence_text("i" + "\0i".join(map(str, values)))
    return sequence_version([version(x) for x in values])
