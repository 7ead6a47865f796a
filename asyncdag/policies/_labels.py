"""``item_label``: how the items of an expander are named in errors, logs, hooks and traces."""

from __future__ import annotations

import reprlib
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["ITEM_LABEL_TAG", "default_label", "item_label"]

#: The node tag that carries an expander's label function.
ITEM_LABEL_TAG = "asyncdag.item_label"

#: the longest default label
LABEL_CHARS = 80

_repr = reprlib.Repr()
_repr.maxstring = LABEL_CHARS
_repr.maxother = LABEL_CHARS
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 4

_F = TypeVar("_F", bound=Callable[..., Any])


def default_label(item: Any) -> str:
    """A bounded ``repr`` of ``item``: at most about 80 characters, whatever its size."""
    text = _repr.repr(item)
    return text if len(text) <= LABEL_CHARS + 3 else text[:LABEL_CHARS] + "..."


def item_label(label: Callable[[Any], Any]) -> Callable[[_F], _F]:
    """Name each item of the decorated expander with ``label(item)`` (made a string).

    The label appears wherever asyncdag speaks of the item: ``NodeExecutionError``,
    ``ItemFailure``, log lines, lifecycle hooks, progress and traces. The default is a bounded
    ``repr`` of the item. ``label`` runs only when a label is needed, not for every item.

    Example::

        @item_label(lambda row: row["url"])
        def page_row(rows: list[dict]) -> Parallelizable[dict]:
            yield from rows
    """
    if not callable(label):
        raise TypeError(f"item_label takes a function of the item, not {label!r}")

    def mark(fn: _F) -> _F:
        tags = dict(getattr(fn, "__asyncdag_tags__", {}))
        tags[ITEM_LABEL_TAG] = label
        fn.__asyncdag_tags__ = tags  # type: ignore[attr-defined]
        return fn

    return mark
