"""Payloads for process and cluster workers, with errors that name what cannot travel."""

from __future__ import annotations

import uuid
import weakref
from typing import TYPE_CHECKING, Any

import cloudpickle

from asyncdag.errors import SerializationError

if TYPE_CHECKING:
    from asyncdag.execution._plan import BlockPlan
    from asyncdag.execution._scheduler import Instance

__all__ = ["item_payload", "plan_payload"]

_PLAN_CACHE: weakref.WeakKeyDictionary[BlockPlan, tuple[str, bytes]] = weakref.WeakKeyDictionary()


def plan_payload(block: BlockPlan) -> tuple[str, bytes]:
    """The block's plan as bytes, pickled once per block; the key lets workers cache it."""
    found = _PLAN_CACHE.get(block)
    if found is None:
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


def item_payload(
    block: BlockPlan, values: dict[str, Any], parent: Instance, index: tuple[int, ...]
) -> bytes:
    """One item's values and the outer values its block reads, as bytes."""
    externals = {(lvl, key): parent.lookup(lvl - 1, key) for lvl, key in block.external}
    try:
        return cloudpickle.dumps((values, externals, index))  # type: ignore[no-any-return]
    except Exception:
        pass
    for (lvl, key), value in [*((((0, k), v) for k, v in values.items())), *externals.items()]:
        try:
            cloudpickle.dumps(value)
        except Exception as exc:
            what = "item" if lvl == 0 else "value"
            raise SerializationError(
                f"the {what} of node {key!r} (type {type(value).__module__}."
                f"{type(value).__qualname__}) cannot be pickled to reach a worker process for"
                f" item {index} of {block.expander!r}: {exc}. Build it inside the block, or"
                " declare it as a per-worker resource so that each worker builds its own.",
                node=key,
            ) from exc
    raise SerializationError(f"the values of item {index} of {block.expander!r} cannot be pickled")
