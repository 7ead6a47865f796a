"""Cache keys: node name, code version and the data versions of the node's dependencies.

A key is the 128-bit BLAKE2b digest (32 hex digits) of those parts joined by NUL bytes,
dependencies in name order. Data versions never contain a NUL, so two different sets of
parts never join to the same text. A call with a single dependency whose data version
spells its value (a small primitive) has a :func:`short_key` instead, made without hashing.
The cache schema number is part of every key: a format change in a later asyncdag version
makes new keys rather than misreading old entries.
"""

from __future__ import annotations

from collections.abc import Mapping

from asyncdag.caching._fingerprint import digest
from asyncdag.caching._sqlite import SCHEMA

__all__ = ["LITERAL_TAGS", "create_cache_key", "key_prefix", "short_key"]

#: The first letters of data versions that spell their value (see ``_fingerprint``).
LITERAL_TAGS = frozenset("ifsbny")


def key_prefix(node_name: str, code_version: str) -> str:
    return f"asyncdag{SCHEMA}\0{node_name}\0{code_version}"


def short_key(prefix_digest: str, name: str, version: str) -> str:
    """The key of a call with one dependency whose version spells its value (an item's
    ``int`` or short ``str``, the common case in blocks): the digest of the node's prefix,
    the dependency's name and its version, with no hashing per call. It is longer than a
    digest, so the two kinds never meet; a name has no ``=``, so the version starts after
    the first one."""
    return f"{prefix_digest}{name}={version}"


def create_cache_key(
    node_name: str, code_version: str, dependencies_data_versions: Mapping[str, str]
) -> str:
    """The cache key of a call of ``node_name`` at ``code_version`` with these dependencies.

    Example::

        create_cache_key("total", code_version, {"counts": "c1f0..."})
    """
    prefix = key_prefix(node_name, code_version)
    if len(dependencies_data_versions) == 1:
        ((name, version),) = dependencies_data_versions.items()
        if version[:1] in LITERAL_TAGS:
            return short_key(digest(prefix.encode()), name, version)
    parts = [prefix]
    for name in sorted(dependencies_data_versions):
        parts.append(name)
        parts.append(dependencies_data_versions[name])
    return digest("\0".join(parts).encode("utf-8", "surrogatepass"))
