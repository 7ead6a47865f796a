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
    │   ├── UnknownOutputError      an output that is neither a node nor an input
    │   ├── MissingInputError       a required input was not given
    │   ├── InputTypeError          an input's value does not fit the parameters that read it
    │   └── RunningLoopError        execute() called inside a running event loop
    ├── NodeExecutionError          a node's function raised; ``__cause__`` is the user's exception
    │   └── NodeTimeoutError        a node timed out (its timeout policy, or its own I/O)
    ├── SerializationError          a value cannot travel to a process or cluster worker
    ├── WorkerDiedError             a worker process died while running a task
    ├── ExecutorError               an executor is unusable (closed, misconfigured)
    └── VisualizationError          a picture cannot be made (graphviz's ``dot`` is missing)

Cancellation is never wrapped: cancelling a run re-raises the event loop's own cancellation.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AsyncDagError",
    "CycleError",
    "DuplicateNodeError",
    "ExecutionRequestError",
    "ExecutorError",
    "GraphError",
    "InputTypeError",
    "InvalidDecoratorError",
    "MissingInputError",
    "NodeExecutionError",
    "NodeTimeoutError",
    "RunningLoopError",
    "ScopeError",
    "SerializationError",
    "TypeMismatchError",
    "UnknownOutputError",
    "VisualizationError",
    "WorkerDiedError",
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


class ExecutionRequestError(AsyncDagError):
    """The outputs, inputs or overrides of a run do not fit the graph."""


class UnknownOutputError(ExecutionRequestError):
    """A requested output is neither a node nor an input."""


class MissingInputError(ExecutionRequestError):
    """A required input was not given. ``missing`` maps each input to the nodes that need it."""

    def __init__(self, message: str, missing: dict[str, list[str]]) -> None:
        super().__init__(message)
        self.missing = missing


class InputTypeError(ExecutionRequestError):
    """An input's value is not of the type that the nodes reading it declare."""


class RunningLoopError(ExecutionRequestError):
    """``execute()`` was called from inside a running event loop; use ``await aexecute()``."""


class NodeExecutionError(AsyncDagError):
    """A node's function raised.

    ``node`` is the node's name, ``index`` the item's index path inside Parallelizable blocks
    (``()`` outside any block, ``(3,)`` for the fourth item, ``(3, 7)`` when nested), and
    ``__cause__`` the exception the function raised.
    """

    def __init__(self, node: str, index: tuple[int, ...] = (), detail: str = "") -> None:
        where = f" at item {index}" if index else ""
        text = f"node {node!r}{where} failed"
        if detail:
            text += f": {detail}"
        super().__init__(text)
        self.node = node
        self.index = index
        self.detail = detail


class NodeTimeoutError(NodeExecutionError):
    """A node raised ``TimeoutError``: its ``timeout`` policy ran out, or its own I/O timed out."""


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
