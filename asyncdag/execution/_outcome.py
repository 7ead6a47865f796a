"""Outcomes are values: what became of a step or a block instance, made in one place.

- :class:`Done` — it produced its value (for an instance: its values are in the instance);
- :class:`Ended` — a node of it failed and its error policy (``skip``/``deliver``) ended only
  this item: the :class:`~asyncdag.htypes.ItemFailure` is what collectors and hooks see;
- :class:`Raised` — it failed the run: the asyncdag error to raise from ``aexecute``.

:func:`failed` is the only place a user exception becomes one of these: it maps the exception
with :func:`asyncdag.errors.node_error` (naming node, item and label) and applies the node's
error policy. Outcomes travel as they are: across threads, and (encoded by ``_wire``) from
worker processes.
"""

from __future__ import annotations

from typing import Any

from asyncdag.errors import NodeExecutionError, node_error
from asyncdag.htypes import ItemFailure
from asyncdag.policies import DELIVER, FAIL, SKIP

__all__ = ["DONE", "Done", "Ended", "Outcome", "Raised", "failed"]


class Done:
    __slots__ = ("value",)

    def __init__(self, value: Any = None) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Done({self.value!r})"


#: the outcome of an instance whose values are in the instance itself
DONE = Done()


class Ended:
    __slots__ = ("failure",)

    def __init__(self, failure: ItemFailure) -> None:
        self.failure = failure

    @property
    def skipped(self) -> bool:
        return self.failure.policy == SKIP

    @property
    def outcome_name(self) -> str:
        """What lifecycle hooks call it: ``"skipped"`` or ``"delivered"``."""
        return "skipped" if self.failure.policy == SKIP else "delivered"

    def __repr__(self) -> str:
        return f"Ended({self.failure!r})"


class Raised:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __repr__(self) -> str:
        return f"Raised({self.error!r})"


Outcome = Done | Ended | Raised


def failed(
    node: str,
    policy: str,
    index: tuple[int, ...],
    label: str | None,
    exc: BaseException,
) -> Ended | Raised:
    """What a failure of ``node`` (error policy ``policy``) raising ``exc`` does.

    ``exc`` is what the node's function raised (or an asyncdag error made for it, such as a
    ``RemoteError`` rebuilt from a worker's answer, which is kept as it is). Outside any block
    (``index == ()``) every failure fails the run.
    """
    if isinstance(exc, NodeExecutionError) and exc.node == node and exc.index == index:
        err: NodeExecutionError = exc
        cause = exc.__cause__ if exc.__cause__ is not None else exc
    else:
        err = node_error(node, index, exc, label)
        cause = exc
    if policy == FAIL or not index:
        return Raised(err)
    assert policy in (SKIP, DELIVER)
    return Ended(ItemFailure(node, index, cause, policy, label))
