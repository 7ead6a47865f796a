"""The item error policy: fail the run, skip the item, or deliver the failure as a value."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

__all__ = ["DELIVER", "FAIL", "ON_ERROR_TAG", "SKIP", "on_error"]

FAIL = "fail"
SKIP = "skip"
DELIVER = "deliver"
#: The node tag that carries the policy (``list_available_variables`` shows it).
ON_ERROR_TAG = "asyncdag.on_error"

_F = TypeVar("_F", bound=Callable[..., Any])


def on_error(policy: Literal["fail", "skip", "deliver"]) -> Callable[[_F], _F]:
    """What a failure of the decorated node does to its item.

    - ``"fail"`` (default): the run fails with ``NodeExecutionError``.
    - ``"skip"``: the item is left out of every collector of its expansion, and logged.
    - ``"deliver"``: collectors receive an :class:`asyncdag.htypes.ItemFailure` (node, index,
      error) in its place.
    """
    if policy not in (FAIL, SKIP, DELIVER):
        raise ValueError(f"on_error takes 'fail', 'skip' or 'deliver', not {policy!r}")

    def mark(fn: _F) -> _F:
        tags = dict(getattr(fn, "__asyncdag_tags__", {}))
        tags[ON_ERROR_TAG] = policy
        fn.__asyncdag_tags__ = tags  # type: ignore[attr-defined]
        return fn

    return mark
