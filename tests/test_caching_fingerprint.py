"""Data versions, code versions and cache keys on their own."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import threading
from pathlib import Path

import pytest

from asyncdag.caching import fingerprinting
from asyncdag.caching._code import code_version, source_version
from asyncdag.caching._fingerprint import sequence_version
from asyncdag.caching.cache_key import create_cache_key
from asyncdag.htypes import ItemFailure


def v(value: object) -> str:
    return fingerprinting.data_version(value)


def test_small_primitives_are_their_own_version_and_name_their_type() -> None:
    assert [v(1), v(True), v(1.0), v("1"), v(None), v(b"1")] == [
        "i1",
        "b1",
        "f1.0",
        "s1",
        "n",
        "y31",
    ]
    assert len({v(1), v(True), v(1.0), v("1"), v(b"1")}) == 5
    long = "x" * 1000
    assert v(long) == v("x" * 1000) and v(long) != v("x" * 999) and len(v(long)) == 33
    assert v(10**40) != v(10**40 + 1)


def test_equal_values_have_equal_versions_and_containers_keep_their_kind() -> None:
    assert v({"a": 1, "b": [1, 2]}) == v({"b": [1, 2], "a": 1})  # mapping order does not count
    assert v([1, 2]) != v([2, 1]) and v([1, 2]) != v((1, 2))
    assert v({1, 2, 3}) == v({3, 2, 1}) and v({1, 2}) != v(frozenset({1, 2}))
    assert v([{"a": {1, 2}}]) == v([{"a": {2, 1}}])


@dataclasses.dataclass
class Point:
    x: int
    y: int


@dataclasses.dataclass
class Other:
    x: int
    y: int


class Colour(enum.Enum):
    RED = 1


def test_objects_by_type_and_state() -> None:
    assert v(Point(1, 2)) == v(Point(1, 2)) != v(Point(1, 3))
    assert v(Point(1, 2)) != v(Other(1, 2))
    assert v(Colour.RED) == v(Colour.RED)
    assert v(datetime.date(2024, 5, 1)) != v(datetime.date(2024, 5, 2))
    assert v(Path("/a")) != v("/a")


def test_exceptions_and_item_failures() -> None:
    a = ItemFailure("node", (3,), KeyError("k"))
    assert v(a) == v(ItemFailure("node", (3,), KeyError("k")))
    assert v(a) != v(ItemFailure("node", (4,), KeyError("k")))
    assert v(ValueError("x")) != v(KeyError("x"))


def test_numpy_and_pandas() -> None:
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    assert v(np.arange(5)) == v(np.arange(5)) != v(np.arange(6))
    assert v(np.arange(5)) != v(np.arange(5, dtype="float64"))
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    assert v(frame) == v(frame.copy()) != v(frame.assign(a=[1, 3]))
    assert v(frame) != v(frame.rename(columns={"b": "c"}))
    assert v(frame["a"]) != v(frame["b"])


def test_what_cannot_be_versioned_is_unhashable_and_custom_types_can_register() -> None:
    assert v(threading.Lock()) == fingerprinting.UNHASHABLE

    class Handle:
        __slots__ = ("lock",)

        def __init__(self) -> None:
            self.lock = threading.Lock()

    assert v(Handle()) == fingerprinting.UNHASHABLE

    class Versioned:
        def __init__(self, n: int) -> None:
            self.n = n
            self.cache = threading.Lock()  # would make it unhashable

    @fingerprinting.hash_value.register(Versioned)
    def _(obj: Versioned, *args: object, depth: int = 0, **kwargs: object) -> str:
        return fingerprinting.hash_value(obj.n, depth=depth + 1)

    assert v(Versioned(3)) == v(Versioned(3)) != v(Versioned(4))


def test_depth_is_bounded() -> None:
    nested: object = 1
    for _ in range(5):
        nested = [nested]
    old = fingerprinting.MAX_DEPTH
    try:
        fingerprinting.set_max_depth(3)
        assert v(nested) == fingerprinting.UNHASHABLE
    finally:
        fingerprinting.set_max_depth(old)
    assert v(nested) != fingerprinting.UNHASHABLE


def test_a_collected_list_is_versioned_from_its_items() -> None:
    assert sequence_version(["i1", "i2"]) == sequence_version(["i1", "i2"])
    assert sequence_version(["i1", "i2"]) != sequence_version(["i2", "i1"])
    a, b = sequence_version(["i1", "<unhashable>"]), sequence_version(["i1", "<unhashable>"])
    assert a != b  # never equal: a collector of unversionable items never hits


def test_code_versions_ignore_docstrings_and_comments_but_not_code() -> None:
    base = "def f(x):\n    return x + 1\n"
    documented = 'def f(x):\n    """Doc."""\n    # a comment\n    return x + 1  # why\n'
    assert source_version(base) == source_version(documented)
    assert source_version(base) != source_version("def f(x):\n    return x + 2\n")
    assert source_version("@retry(3)\n" + base) != source_version("@retry(5)\n" + base)

    def g(x: int) -> int:
        return x

    assert code_version(g) == code_version(g)
    made = eval("lambda x: x * 2")  # no source to read: its bytecode is versioned
    assert code_version(made) == code_version(eval("lambda x: x * 2"))
    assert code_version(made) != code_version(eval("lambda x: x * 3"))


def test_cache_keys_change_with_every_part() -> None:
    key = create_cache_key("n", "c1", {"a": "i1", "b": "s2"})
    assert key == create_cache_key("n", "c1", {"b": "s2", "a": "i1"})
    assert len(key) == 32
    others = [
        create_cache_key("m", "c1", {"a": "i1", "b": "s2"}),
        create_cache_key("n", "c2", {"a": "i1", "b": "s2"}),
        create_cache_key("n", "c1", {"a": "i2", "b": "s2"}),
        create_cache_key("n", "c1", {"a": "i1"}),
        create_cache_key("n", "c1", {"a": "i1", "c": "s2"}),
    ]
    assert len({key, *others}) == 6


def test_a_small_primitive_is_read_back_from_its_version_alone() -> None:
    from asyncdag.caching._fingerprint import literal

    for value in [
        0,
        -7,
        10**20,
        True,
        False,
        None,
        0.1,
        -0.0,
        float("inf"),
        "",
        "a\tb é",
        b"",
        b"\x00\xff",
    ]:
        ok, back = literal(v(value))
        assert ok and back == value and type(back) is type(value), value
    for value in ["x" * 100, 10**40, b"y" * 100, [1], (1,)]:
        assert literal(v(value))[0] is False, value
