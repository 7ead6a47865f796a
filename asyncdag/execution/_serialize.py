"""Payloads for process and cluster workers, with errors that name what cannot travel."""

from __future__ import annotations

import contextlib
import sys
import uuid
import weakref
from typing import TYPE_CHECKING, Any

import cloudpickle

from asyncdag.errors import SerializationError

if TYPE_CHECKING:
    from asyncdag.execution._plan import BlockPlan
    from asyncdag.execution._scheduler import Instance

__all__ = ["batch_payload", "plan_payload"]

_PLAN_CACHE: weakref.WeakKeyDictionary[BlockPlan, tuple[str, bytes]] = weakref.WeakKeyDictionary()


def plan_payload(block: BlockPlan) -> tuple[str, bytes]:
    """The block's plan as bytes, pickled once per block; the key lets workers cache it."""
    found = _PLAN_CACHE.get(block)
    if found is None:
        _ship_unimportable_modules_by_value(block)
        try:
            data = cloudpickle.dumps(block)
        except Exception as exc:
            names = [s.name for s in block.steps]
            raise SerializationError(
                f"the functions of the block of {block.expander!r} ({names}) cannot be"
                f" serialized for a worker process: {exc}. Avoid capturing unpicklable objects"
                " in closures or default arguments; build such objects inside a node instead.",
            ) from exc
        found = _PLAN_CACHE[block] = (uuid.uuid4().hex, data)
    return found


def _ship_unimportable_modules_by_value(block: BlockPlan) -> None:
    """Modules made in memory (no file) cannot be imported by a worker: send their code."""
    todo = [block]
    while todo:
        b = todo.pop()
        for step in b.steps:
            if step.child is not None:
                todo.append(step.child)
            fn = step.node.callable if step.node is not None else None
            module = sys.modules.get(getattr(fn, "__module__", "") or "")
            if (
                module is not None
                and module.__name__ != "__main__"
                and getattr(module, "__file__", None) is None
                and getattr(module, "__spec__", None) is None
            ):
                with contextlib.suppress(Exception):
                    cloudpickle.register_pickle_by_value(module)


def batch_payload(
    block: BlockPlan,
    parent: Instance,
    items: list[tuple[dict[str, Any], tuple[int, ...]]],
    events: bool = False,
) -> bytes:
    """A batch of items of one expansion, with the outer values their block reads, as bytes."""
    externals = {(lvl, key): parent.lookup(lvl - 1, key) for lvl, key in block.external}
    try:
        return cloudpickle.dumps((externals, items, events))  # type: ignore[no-any-return]
    except Exception:
        pass
    candidates: list[tuple[str, str, Any, tuple[int, ...]]] = [
        ("value", key, value, ()) for (_, key), value in externals.items()
    ]
    for values, index in items:
        candidates += [("item", key, value, index) for key, value in values.items()]
    for what, key, value, index in candidates:
        try:
            cloudpickle.dumps(value)
        except Exception as exc:
            where = f" for item {index}" if index else ""
            raise SerializationError(
                f"the {what} of node {key!r} (type {type(value).__module__}."
                f"{type(value).__qualname__}) cannot be pickled to reach a worker process"
                f"{where} of {block.expander!r}: {exc}. Build it inside the block, or declare"
                " it as a per-worker resource (asyncdag.resources.per_worker) so that each"
                " worker builds its own.",
                node=key,
            ) from exc
    raise SerializationError(f"the items of {block.expander!r} cannot be pickled")
