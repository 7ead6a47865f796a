"""Modules made on the fly, for notebooks and tests (Hamilton's ``ad_hoc_utils``).

Example::

    from asyncdag import ad_hoc_utils, driver

    def a(x: int) -> int:
        return x + 1

    def b(a: int) -> int:
        return a * 2

    module = ad_hoc_utils.create_temporary_module(a, b)
    dr = driver.Builder().with_modules(module).build()
    dr.execute(["b"], inputs={"x": 1})    # {'b': 4}

A driver built on such a module pickles (the functions travel by value) and runs on process
executors: workers receive the functions themselves, not the module's name.
"""

from __future__ import annotations

import linecache
import sys
import types
import uuid
from collections.abc import Callable
from typing import Any

__all__ = ["create_temporary_module", "module_from_source"]


def _fresh_name() -> str:
    return "temporary_module_" + uuid.uuid4().hex


def _copy_function(fn: Callable[..., Any], module_name: str) -> types.FunctionType:
    if not isinstance(fn, types.FunctionType):
        raise TypeError(f"create_temporary_module takes functions, not {fn!r}")
    copy = types.FunctionType(
        fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__
    )
    copy.__dict__.update(fn.__dict__)  # decorators recorded on the function travel with it
    copy.__kwdefaults__ = fn.__kwdefaults__
    copy.__annotations__ = dict(fn.__annotations__)
    copy.__qualname__ = fn.__qualname__
    copy.__doc__ = fn.__doc__
    copy.__module__ = module_name
    return copy


def create_temporary_module(
    *functions: Callable[..., Any], module_name: str | None = None
) -> types.ModuleType:
    """A module holding copies of ``functions`` (the originals are left as they are),
    registered in ``sys.modules`` under ``module_name`` (a fresh unique name by default).

    :raises ValueError: when the name is taken, a function's name starts with ``_`` (such
        functions are never nodes), or two functions share a name.
    """
    name = module_name or _fresh_name()
    if name in sys.modules:
        raise ValueError(f"a module named {name!r} already exists; choose another module_name")
    module = types.ModuleType(name)
    for fn in functions:
        fn_name = getattr(fn, "__name__", "")
        if fn_name.startswith("_"):
            raise ValueError(
                f"function {fn_name!r} starts with '_': such functions are helpers, never nodes,"
                " so it would do nothing in a temporary module. Rename it."
            )
        if hasattr(module, fn_name):
            raise ValueError(f"two functions are named {fn_name!r}; a module holds one of each")
        setattr(module, fn_name, _copy_function(fn, name))
    sys.modules[name] = module
    return module


def module_from_source(source: str, module_name: str | None = None) -> types.ModuleType:
    """A module made by running ``source``, registered in ``sys.modules``; ``inspect`` can
    show its functions' source (the picture and ``Variable.version`` use it)."""
    name = module_name or _fresh_name()
    module = types.ModuleType(name)
    filename = f"<asyncdag ad hoc module {name}>"
    module.__file__ = filename
    lines = source.splitlines(True)
    linecache.cache[filename] = (len(source), None, lines, filename)
    sys.modules[name] = module
    # dont_inherit: the source's own __future__ imports decide, not this module's
    exec(compile(source, filename, "exec", dont_inherit=True), module.__dict__)
    return module
