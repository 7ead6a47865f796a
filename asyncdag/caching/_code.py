"""Code versions: a hash of the source of the function that defines a node.

Docstrings and comments do not count (the source is parsed and printed back without them);
decorator lines do, so changing ``@retry(3)`` to ``@retry(5)`` or a ``@parameterize`` value
makes a new version. Functions called by the node are not followed (Hamilton's rule too):
mark such a node ``recompute`` when what it calls changes. A function without readable
source (a lambda typed at a prompt, code built at run time) is versioned by its bytecode,
constants and names, which is stable for one Python version.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import weakref
from collections.abc import Callable
from typing import Any

from asyncdag.caching._fingerprint import digest

__all__ = ["code_version", "source_version"]

_cache: weakref.WeakKeyDictionary[Callable[..., Any], str] = weakref.WeakKeyDictionary()


def _strip(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return tree


def source_version(source: str) -> str:
    """The version of a piece of source code: docstrings and comments ignored."""
    text = textwrap.dedent(source).strip()
    try:
        text = ast.unparse(_strip(ast.parse(text)))
    except SyntaxError:  # a fragment that does not parse alone: hash it as it is
        pass
    return digest(text.encode())


def _bytecode_version(fn: Callable[..., Any]) -> str:
    code = getattr(inspect.unwrap(fn), "__code__", None)
    if code is None:
        return digest(repr(fn).encode())
    parts: list[bytes] = []

    def add(c: Any) -> None:
        parts.append(c.co_code)
        parts.append(repr(c.co_names).encode())
        for const in c.co_consts:
            if inspect.iscode(const):
                add(const)
            else:
                parts.append(repr(const).encode())

    add(code)
    return digest(b"\0".join(parts))


def code_version(fn: Callable[..., Any]) -> str:
    """The code version of ``fn`` (cached per function object)."""
    try:
        return _cache[fn]
    except (KeyError, TypeError):
        pass
    try:
        version = source_version(inspect.getsource(fn))
    except (OSError, TypeError):
        version = _bytecode_version(fn)
    try:
        _cache[fn] = version
    except TypeError:  # not weak-referenceable
        pass
    return version
