"""Data versions: a short string that stands for a value, equal for equal values.

A data version is what a cache key records of each dependency, so it must be cheap for the
values that flow through blocks by the hundred thousand (ints, short strings) and stable
across processes for the rest:

- small primitives are their own version, spelled with a type letter (``i42``, ``f0.5``,
  ``sabc``, ``b1``, ``n``): no hashing at all;
- other values are hashed (BLAKE2b, 128 bits, 32 hex digits) by :func:`hash_value`, a
  ``functools.singledispatch`` function as in Hamilton: containers element by element
  (mappings and sets in an order-free way), numpy arrays and pandas objects by their data,
  other objects by their type and ``__dict__``, and as a last resort by their pickle;
- a value none of that can version gives :data:`UNHASHABLE`: the node's dependents then get a
  version of their own that never repeats, so they miss rather than risk a wrong hit.

Every version names the value's type, so ``1``, ``True``, ``1.0`` and ``"1"`` differ, and so do
a list and a tuple of the same items.
"""

from __future__ import annotations

import datetime
import enum
import functools
import hashlib
import pathlib
import pickle
import uuid
import zlib
from collections.abc import Callable, Mapping, Sequence, Set
from decimal import Decimal
from fractions import Fraction
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "NONE_HASH",
    "UNHASHABLE",
    "checksum",
    "checksum_ok",
    "data_version",
    "digest",
    "hash_value",
    "is_unhashable",
    "literal",
    "sequence_text",
    "sequence_version",
    "set_max_depth",
    "unique_version",
]

#: How deep :func:`hash_value` follows containers and ``__dict__`` before giving up.
MAX_DEPTH = 6
#: What :func:`hash_value` returns for a value it cannot version.
UNHASHABLE = "<unhashable>"
#: The version of ``None``.
NONE_HASH = "n"

_LITERAL_STR = 64  # strings up to this length are their own version
_LITERAL_INT = 10**30


def set_max_depth(depth: int) -> None:
    """How deep containers and object attributes are followed (Hamilton's name)."""
    global MAX_DEPTH
    if depth < 1:
        raise ValueError(f"max depth must be at least 1, got {depth}")
    MAX_DEPTH = depth


def digest(data: bytes) -> str:
    """128-bit BLAKE2b of ``data`` as 32 hex digits."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def checksum(data: bytes) -> str:
    """What a stored result or pack of results is checked against when read back: a CRC-32
    (it tells truncated or damaged bytes apart, at a fifth of a digest's cost; a warm run
    checks every byte it reads)."""
    return f"c{zlib.crc32(data):08x}"


def checksum_ok(data: bytes, expected: str) -> bool:
    """Whether ``data`` has the checksum ``expected`` (a :func:`checksum`, or a
    :func:`digest` as older entries have)."""
    if len(expected) == 9 and expected[0] == "c":
        return checksum(data) == expected
    return digest(data) == expected


def _str_version(value: str) -> str:
    if len(value) <= _LITERAL_STR and "\0" not in value:
        return "s" + value
    return "S" + digest(value.encode("utf-8", "surrogatepass"))


def _int_version(value: int) -> str:
    if -_LITERAL_INT < value < _LITERAL_INT:
        return f"i{value}"
    return "I" + digest(str(value).encode())


def _bytes_version(value: bytes) -> str:
    if len(value) <= 32:
        return "y" + value.hex()
    return "Y" + digest(value)


_FAST: dict[type, Callable[[Any], str]] = {
    int: _int_version,
    str: _str_version,
    bool: lambda v: "b1" if v else "b0",
    float: lambda v: "f" + repr(v),
    type(None): lambda v: NONE_HASH,
    bytes: _bytes_version,
}


def data_version(value: Any) -> str:
    """The data version of ``value``: a literal for small primitives, else :func:`hash_value`."""
    fast = _FAST.get(type(value))
    if fast is not None:
        return fast(value)
    return hash_value(value)


_LITERAL = frozenset("ifsbny")


def _bool(rest: str) -> bool:
    return rest == "1"


def _none(rest: str) -> None:
    return None


def _same(rest: str) -> str:
    return rest


#: how each literal tag spells its value
DECODE_LITERAL: dict[str, Callable[[str], Any]] = {
    "i": int,
    "s": _same,
    "f": float,
    "b": _bool,
    "n": _none,
    "y": bytes.fromhex,
}


def literal(version: str) -> tuple[bool, Any]:
    """``(True, value)`` when ``version`` spells its value (a small primitive's version)."""
    tag = version[:1]
    if tag not in _LITERAL:
        return False, None
    rest = version[1:]
    if tag == "i":
        return True, int(rest)
    if tag == "s":
        return True, rest
    if tag == "f":
        return True, float(rest)
    if tag == "b":
        return True, rest == "1"
    if tag == "n":
        return True, None
    return True, bytes.fromhex(rest)


def is_unhashable(version: str) -> bool:
    return version.startswith(UNHASHABLE)


def unique_version(reason: str = UNHASHABLE) -> str:
    """A version that equals no other: its dependents never hit."""
    return f"{reason}_{uuid.uuid4().hex}"


def _combine(tag: str, parts: Sequence[str]) -> str:
    if any(p == UNHASHABLE for p in parts):
        return UNHASHABLE
    return tag + digest("\0".join(parts).encode("utf-8", "surrogatepass"))


def _type_name(obj: Any) -> str:
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


@functools.singledispatch
def hash_value(obj: Any, *args: Any, depth: int = 0, **kwargs: Any) -> str:
    """The data version of any value; register more types with ``hash_value.register(T)``.

    Example::

        from asyncdag.caching import fingerprinting

        @fingerprinting.hash_value.register(MyFrame)
        def _(obj, *args, depth=0, **kwargs) -> str:
            return fingerprinting.hash_value(obj.to_dict(), depth=depth + 1)
    """
    if depth > MAX_DEPTH:
        return UNHASHABLE
    special = _by_module(obj, depth)
    if special is not None:
        return special
    state = getattr(obj, "__dict__", None)
    if isinstance(state, dict) and state:
        return _combine("o", [_type_name(obj), hash_value(state, depth=depth + 1)])
    slots = _slot_values(obj)
    if slots is not None:
        return _combine("o", [_type_name(obj), hash_value(slots, depth=depth + 1)])
    try:
        data = pickle.dumps(obj, protocol=5)
    except Exception:
        return UNHASHABLE
    return "p" + digest(_type_name(obj).encode() + b"\0" + data)


def _slot_values(obj: Any) -> dict[str, Any] | None:
    names = [
        name
        for cls in type(obj).__mro__
        for name in getattr(cls, "__slots__", ())
        if isinstance(name, str) and name not in ("__dict__", "__weakref__")
    ]
    if not names:
        return None
    return {name: getattr(obj, name, None) for name in names}


def _by_module(obj: Any, depth: int) -> str | None:
    """numpy and pandas values, recognised without importing either library."""
    module = type(obj).__module__.partition(".")[0]
    if module == "numpy" and hasattr(obj, "tobytes") and hasattr(obj, "dtype"):
        header = f"{_type_name(obj)}|{obj.dtype}|{getattr(obj, 'shape', ())}"
        if obj.dtype == object:
            return _combine("a", [header, hash_value(obj.tolist(), depth=depth + 1)])
        return "a" + digest(header.encode() + b"\0" + obj.tobytes())
    if module == "pandas" and hasattr(obj, "index"):
        return _pandas_version(obj, depth)
    return None


def _pandas_version(obj: Any, depth: int) -> str:
    import pandas as pd

    try:
        rows = pd.util.hash_pandas_object(obj, index=True).to_numpy()
    except TypeError:  # unhashable cells (lists, dicts): fall back to the values themselves
        return _combine("d", [_type_name(obj), hash_value(obj.to_dict(), depth=depth + 1)])
    columns = list(obj.columns) if hasattr(obj, "columns") else [getattr(obj, "name", None)]
    dtypes = [str(t) for t in obj.dtypes] if hasattr(obj, "columns") else [str(obj.dtype)]
    header = f"{_type_name(obj)}|{columns!r}|{dtypes!r}"
    return "d" + digest(header.encode() + b"\0" + rows.tobytes())


@hash_value.register(type(None))
def _hash_none(obj: None, *args: Any, **kwargs: Any) -> str:
    return NONE_HASH


@hash_value.register(str)
@hash_value.register(int)
@hash_value.register(float)
@hash_value.register(bytes)
def _hash_primitive(obj: Any, *args: Any, **kwargs: Any) -> str:
    fast = _FAST.get(type(obj))
    if fast is not None:
        return fast(obj)
    return _hash_repr(obj)  # a subclass (an IntEnum, a str subclass): by type and repr


@hash_value.register(Decimal)
@hash_value.register(Fraction)
@hash_value.register(complex)
@hash_value.register(datetime.date)
@hash_value.register(datetime.time)
@hash_value.register(datetime.timedelta)
@hash_value.register(datetime.tzinfo)
@hash_value.register(pathlib.PurePath)
@hash_value.register(uuid.UUID)
@hash_value.register(enum.Enum)
@hash_value.register(range)
def _hash_repr(obj: Any, *args: Any, **kwargs: Any) -> str:
    return "r" + digest(f"{_type_name(obj)}|{obj!r}".encode())


@hash_value.register(BaseException)
def _hash_exception(obj: BaseException, *args: Any, depth: int = 0, **kwargs: Any) -> str:
    state = {k: v for k, v in vars(obj).items() if not k.startswith("__")}
    parts = [_type_name(obj), hash_value(list(obj.args), depth=depth + 1)]
    if state:
        parts.append(hash_value(state, depth=depth + 1))
    return _combine("e", parts)


@hash_value.register(Mapping)
def _hash_mapping(obj: Mapping[Any, Any], *args: Any, depth: int = 0, **kwargs: Any) -> str:
    if depth > MAX_DEPTH:
        return UNHASHABLE
    pairs = []
    for k, v in obj.items():
        hk, hv = hash_value(k, depth=depth + 1), hash_value(v, depth=depth + 1)
        if hk == UNHASHABLE or hv == UNHASHABLE:
            return UNHASHABLE
        pairs.append(f"{hk}\0{hv}")
    return _combine("m", [_type_name(obj), *sorted(pairs)])


@hash_value.register(Sequence)
def _hash_sequence(obj: Sequence[Any], *args: Any, depth: int = 0, **kwargs: Any) -> str:
    if depth > MAX_DEPTH:
        return UNHASHABLE
    return _combine("l", [_type_name(obj), *(hash_value(x, depth=depth + 1) for x in obj)])


@hash_value.register(Set)
def _hash_set(obj: Set[Any], *args: Any, depth: int = 0, **kwargs: Any) -> str:
    if depth > MAX_DEPTH:
        return UNHASHABLE
    return _combine("t", [_type_name(obj), *sorted(hash_value(x, depth=depth + 1) for x in obj)])


def sequence_version(versions: Sequence[str]) -> str:
    """The version of a collected list, from its items' versions (in order)."""
    for v in versions:
        if v == UNHASHABLE or v.startswith(UNHASHABLE):
            return unique_version()
    return sequence_text("\0".join(versions))


def sequence_text(joined: str) -> str:
    """:func:`sequence_version` from its items' versions already joined by NUL bytes."""
    return "c" + digest(joined.encode("utf-8", "surrogatepass"))
