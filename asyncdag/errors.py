"""Every error asyncdag raises.

::

    AsyncDagError
    ├── GraphError                  build(): the modules and config do not form a valid DAG
    │   ├── DuplicateNodeError      two functions define the same node
    │   ├── CycleError              nodes depend on each other in a loop
    │   ├── TypeMismatchError       a producer's type does not fit a consumer's parameter
    │   ├── ScopeError              a node crosses blocks in a way that has no meaning
    │   └── InvalidDecoratorError   a function modifier is misapplied
    ├── ExecutionRequestError       a run was asked for wrongly; raised before any user code runs
    │   │                           (also a ValueError, as Hamilton's request errors are)
    │   ├── UnknownOutputError      an output that is neither a node nor an input
    │   ├── MissingInputError       a required input was not given
    │   ├── InputTypeError          an input's value does not fit the parameters that read it
    │   │                           (also a TypeError)
    │   └── RunningLoopError        execute() called inside a running event loop
    ├── NodeExecutionError          a node's function raised; ``__cause__`` is the user's exception
    │   ├── NodeTimeoutError        a node timed out (its timeout policy, or its own I/O)
    │   └── RemoteError             the exception came back from a worker but could not be
    │                               rebuilt there; carries its type's name, message, traceback
    ├── HookError                   a lifecycle hook raised; ``__cause__`` is its exception
    ├── SerializationError          a value cannot travel to a process or cluster worker
    ├── WorkerDiedError             a worker process died while running a task
    ├── ExecutorError               an executor is unusable (closed, misconfigured)
    └── VisualizationError          a picture cannot be made (graphviz's ``dot`` is missing)

A ``NodeExecutionError`` raised for a node's exception is also an instance of that exception's
class (``except KeyError:`` around ``execute()`` catches a node's ``KeyError``, as in Hamilton),
with the exception's attributes and ``args``; it still names the node, the item's index path
and label, and keeps the exception itself as ``__cause__``.

Cancellation is never wrapped: cancelling a run re-raises the event loop's own cancellation.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import Any

__all__ = [
    "AsyncDagError",
    "CycleError",
    "DuplicateNodeError",
    "ExecutionRequestError",
    "ExecutorError",
    "GraphError",
    "HookError",
    "InputTypeError",
    "InvalidDecoratorError",
    "MissingInputError",
    "NodeExecutionError",
    "NodeTimeoutError",
    "RemoteError",
    "RunningLoopError",
    "ScopeError",
    "SerializationError",
    "TypeMismatchError",
    "UnknownOutputError",
    "VisualizationError",
    "WorkerDiedError",
    "node_error",
]


class AsyncDagError(Exception):
    """Base class of every error raised by asyncdag."""


class GraphError(AsyncDagError):
    """The functions and config given to the Builder do not form a valid DAG."""


class DuplicateNodeError(GraphError):
    """Two functions (in different modules, or one module twice) define the same node."""


class CycleError(GraphError):
    """Nodes depend on each other in a loop. ``cycle`` lists the nodes in order."""

    def __init__(self, message: str, cycle: Sequence[str]) -> None:
        super().__init__(message)
        self.cycle = tuple(cycle)


class TypeMismatchError(GraphError):
    """A node's declared output type does not fit the parameter of a node that reads it."""


class ScopeError(GraphError):
    """A node reads values across Parallelizable blocks in a way that cannot mean anything."""


class InvalidDecoratorError(GraphError):
    """A function modifier is applied where it cannot work."""


class ExecutionRequestError(AsyncDagError, ValueError):
    """The outputs, inputs or overrides of a run do not fit the graph."""


class UnknownOutputError(ExecutionRequestError):
    """A requested output is neither a node nor an input."""


class MissingInputError(ExecutionRequestError):
    """A required input was not given. ``missing`` maps each input to the nodes that need it."""

    def __init__(self, message: str, missing: dict[str, list[str]]) -> None:
        super().__init__(message)
        self.missing = missing


class InputTypeError(ExecutionRequestError, TypeError):
    """An input's value is not of the type that the nodes reading it declare."""


class RunningLoopError(ExecutionRequestError):
    """``execute()`` was called from inside a running event loop; use ``await aexecute()``."""


class NodeExecutionError(AsyncDagError):
    """A node's function raised.

    ``node`` is the node's name, ``index`` the item's index path inside Parallelizable blocks
    (``()`` outside any block, ``(3,)`` for the fourth item, ``(3, 7)`` when nested), ``label``
    the item's short label (``None`` outside blocks) and ``__cause__`` the exception the
    function raised. Made by :func:`node_error`, it is also an instance of the cause's class.
    """

    def __init__(
        self,
        node: str,
        index: tuple[int, ...] = (),
        detail: str = "",
        label: str | None = None,
    ) -> None:
        where = f" at item {index}" if index else ""
        if label is not None:
            where += f" {label}"
        text = f"node {node!r}{where} failed"
        if detail:
            text += f": {detail}"
        # BaseException's own __init__: a class made with the user's exception type as a
        # second base must not call that type's __init__, whose parameters are its own.
        BaseException.__init__(self, text)
        self.message = text
        self.node = node
        self.index = index
        self.detail = detail
        self.label = label

    def __str__(self) -> str:
        # The user's class may define __str__ from its own attributes; ours names the node.
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        base = type(self)
        user = getattr(base, "_asyncdag_user_type", None)
        kind = base.__mro__[1] if user is not None else base
        state = {k: v for k, v in self.__dict__.items()}
        return (_rebuild, (kind, user, self.args, state))


class NodeTimeoutError(NodeExecutionError):
    """A node raised ``TimeoutError``: its ``timeout`` policy ran out, or its own I/O timed out."""


class RemoteError(NodeExecutionError):
    """A node's exception in a worker process that could not be rebuilt in the parent (its class
    needs constructor arguments, or does not unpickle here).

    ``type_name`` is the qualified name of its class, ``remote_message`` its ``str()`` and
    ``remote_traceback`` the traceback text from the worker.
    """

    type_name: str = ""
    remote_message: str = ""
    remote_traceback: str = ""


class HookError(AsyncDagError):
    """A lifecycle hook raised. ``adapter`` and ``hook`` name it; ``__cause__`` is its exception.

    A hook's failure fails the run it observes (like a node's), but it is reported as the
    hook's, never as the failure of a node that did not fail.
    """

    def __init__(self, adapter: str, hook: str, detail: str) -> None:
        super().__init__(
            f"lifecycle hook {adapter}.{hook} raised {detail}; fix the adapter, or remove it"
            " from Builder.with_adapters(...)"
        )
        self.adapter = adapter
        self.hook = hook


class SerializationError(AsyncDagError):
    """A value cannot be serialized to reach a process or cluster worker."""

    def __init__(self, message: str, node: str | None = None) -> None:
        super().__init__(message)
        self.node = node


class WorkerDiedError(AsyncDagError):
    """A worker process died (crash, ``os._exit``, out of memory) while running a task."""


class ExecutorError(AsyncDagError):
    """An executor cannot take work (closed, or configured wrongly)."""


class VisualizationError(AsyncDagError):
    """A picture cannot be made: SVG/PNG need graphviz's ``dot`` program installed."""


_catchable_lock = threading.Lock()
_catchable: weakref.WeakKeyDictionary[type, dict[type, type[NodeExecutionError]]] = (
    weakref.WeakKeyDictionary()
)


def _catchable_class(
    kind: type[NodeExecutionError], user: type[BaseException]
) -> type[NodeExecutionError] | None:
    """``kind`` with the user's exception class as a second base (made once per pair)."""
    with _catchable_lock:
        by_kind = _catchable.get(user)
        if by_kind is None:
            by_kind = _catchable[user] = {}
        found = by_kind.get(kind)
        if found is None:
            try:
                made: type[NodeExecutionError] = type(
                    f"{kind.__name__}[{user.__qualname__}]",
                    (kind, user),
                    {"_asyncdag_user_type": user, "__module__": __name__},
                )
                found = made
            except TypeError:  # the user's class cannot be a base (layout, final)
                return None
            by_kind[kind] = found
        return found


def node_error(
    node: str,
    index: tuple[int, ...],
    exc: BaseException,
    label: str | None = None,
    kind: type[NodeExecutionError] | None = None,
) -> NodeExecutionError:
    """The error asyncdag raises for ``exc`` raised by ``node``: the one mapping.

    A ``NodeExecutionError`` (``NodeTimeoutError`` for a ``TimeoutError``) naming the node,
    the item's index path and label, that is also an instance of ``type(exc)`` (so handlers
    written for the user's exception still catch it), carries ``exc``'s attributes and
    ``args``, and has ``exc`` as ``__cause__``. An asyncdag error from a nested run is wrapped
    the same way, with the original user exception's class where there was one.

    Example::

        try:
            dr.execute(["total"], inputs={...})
        except KeyError as exc:           # a node raised KeyError
            print(exc.node, exc.index)    # ... and asyncdag says which one
    """
    if kind is None:
        kind = NodeTimeoutError if isinstance(exc, TimeoutError) else NodeExecutionError
    user: type[BaseException] | None = getattr(type(exc), "_asyncdag_user_type", type(exc))
    if user is not None and (
        issubclass(user, NodeExecutionError) or not issubclass(user, Exception)
    ):
        # an asyncdag error with no user class behind it; or CancelledError, SystemExit...,
        # which an error must never pass for (it would read as a cancellation, or an exit)
        user = None
    cls = _catchable_class(kind, user) if user is not None else None
    if cls is None:
        cls = kind
    err: NodeExecutionError = cls.__new__(cls)
    NodeExecutionError.__init__(err, node, index, f"{type(exc).__name__}: {exc}", label)
    if cls is not kind:
        _copy_state(exc, err)
    err.__cause__ = exc
    return err


def _copy_state(exc: BaseException, err: NodeExecutionError) -> None:
    own = dict(err.__dict__)
    try:
        err.__dict__.update(vars(exc))
    except TypeError:
        pass
    err.__dict__.update(own)  # node, index, ... win over same-named attributes of the cause
    err.args = exc.args
    if isinstance(exc, OSError) and isinstance(err, OSError):
        for attr in ("errno", "strerror", "filename", "filename2"):
            try:
                setattr(err, attr, getattr(exc, attr))
            except (AttributeError, TypeError):
                pass


def _rebuild(
    kind: type[NodeExecutionError],
    user: type[BaseException] | None,
    args: tuple[Any, ...],
    state: dict[str, Any],
) -> NodeExecutionError:
    cls = (_catchable_class(kind, user) if user is not None else None) or kind
    err: NodeExecutionError = cls.__new__(cls)
    BaseException.__init__(err, *args)
    err.__dict__.update(state)
    return err
