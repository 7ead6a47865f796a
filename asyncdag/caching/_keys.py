"""Cache keys: node name, code version and the data versions of the node's dependencies.

A key is the 128-bit BLAKE2b digest (32 hex digits) of those parts joined by NUL bytes,
dependencies in name order. Data versions never contain a NUL, so two different sets of parts
never join to the same text. The cache schema number is part of every key: a format change in
a later asyncdag version makes new keys rather than misreading old entries.
"""

from __future__ import annotations

from collections.abc import Mapping

from asyncdag.caching._fingerprint import digest
from asyncdag.caching._sqlite import SCHEMA

__all__ = ["create_cache_key", "key_prefix"]


def key_prefix(node_name: str, code_version: str) -> str:
    return f"asyncdag{SCHEMA}\0{node_name}\0{code_version}"


def create_cache_key(
    node_name: str, code_version: str, dependencies_data_versions: Mapping[str, str]
) -> str:
    """The cache key of a call of ``node_name`` at ``code_version`` with these dependencies.

    Example::

        create_cache_key("total", code_version, {"counts": "c1f0..."})
    """
    parts = [key_prefix(node_name, code_version)]
    for name in sorted(dependencies_data_versions):
        parts.append(name)
        parts.append(dependencies_data_versions[name])
    return digest("\0".join(parts).encode("utf-8", "surrogatepass"))
