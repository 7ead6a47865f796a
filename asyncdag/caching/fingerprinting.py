"""Data versions (Hamilton's ``hamilton.caching.fingerprinting``).

``hash_value`` is a ``functools.singledispatch`` function: register a type to version it
your way::

    from asyncdag.caching import fingerprinting

    @fingerprinting.hash_value.register(MyType)
    def _(obj, *args, depth=0, **kwargs) -> str:
        return fingerprinting.hash_value(obj.state(), depth=depth + 1)
"""

from asyncdag.caching._fingerprint import MAX_DEPTH as MAX_DEPTH
from asyncdag.caching._fingerprint import NONE_HASH as NONE_HASH
from asyncdag.caching._fingerprint import UNHASHABLE as UNHASHABLE
from asyncdag.caching._fingerprint import data_version as data_version
from asyncdag.caching._fingerprint import hash_value as hash_value
from asyncdag.caching._fingerprint import set_max_depth as set_max_depth

__all__ = ["MAX_DEPTH", "NONE_HASH", "UNHASHABLE", "data_version", "hash_value", "set_max_depth"]
