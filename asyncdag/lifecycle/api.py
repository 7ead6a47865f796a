"""Hamilton's lifecycle classes and hook signatures, for code ported from Hamilton.

A hook written for Hamilton subclasses one of these and runs unchanged on asyncdag::

    from asyncdag.lifecycle import api

    class Timer(api.NodeExecutionHook):
        def run_before_node_execution(self, *, node_name, node_kwargs, **future_kwargs):
            ...

        def run_after_node_execution(self, *, node_name, success, **future_kwargs):
            ...

    dr = driver.Builder().with_modules(my_module).with_adapters(Timer()).build()

These classes only declare Hamilton's method names and keyword arguments; the driver
translates asyncdag's own events (:class:`asyncdag.lifecycle.LifecycleHooks`) into these calls,
in one place (``asyncdag.lifecycle._hamilton``). What each hook is called with and when:

- ``NodeExecutionHook``: around every node call, with Hamilton's keywords (``node_kwargs``,
  ``node_return_type``, ``node_input_types``, ``task_id`` ...) plus asyncdag's (``index``,
  the item path). It runs on the event loop's thread, also for nodes that ran on a thread,
  a worker process or a cluster.
- ``GraphExecutionHook``: before and after every run (``graph``, ``execution_path`` ...).
- ``TaskExecutionHook``, ``TaskSubmissionHook``, ``TaskReturnHook``: around every *block
  instance* (one item of a Parallelizable and its block), with
  ``purpose=NodeGroupPurpose.EXECUTE_BLOCK``. Nodes outside blocks are not tasks here.
- ``TaskGroupingHook``: ``run_after_task_expansion`` once an expansion has finished (a
  stream's length is known only then; ``parameters`` has one key per item);
  ``run_after_task_grouping`` is not called.
- ``NodeExecutionMethod``: ``run_to_execute_node`` replaces the call of every node; it runs
  where the node runs (loop, thread, worker process), so it must pickle for processes.
- ``GraphConstructionHook``, ``StaticValidator``: when the driver is built.
- ``EdgeConnectionHook``: consulted by the build's edge type check and the run's input type
  check; returning ``True`` accepts what the default check refused.
- ``ResultBuilder`` (and ``asyncdag.base``'s builders): shapes what ``execute`` returns.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from asyncdag.errors import GraphError
from asyncdag.graph._types import value_fits

if TYPE_CHECKING:
    from asyncdag.graph_types import HamiltonGraph, HamiltonNode

__all__ = [
    "EdgeConnectionHook",
    "GraphAdapter",
    "GraphConstructionHook",
    "GraphExecutionHook",
    "LegacyResultMixin",
    "LifecycleAdapter",
    "NodeExecutionHook",
    "NodeExecutionMethod",
    "NodeGroupPurpose",
    "ResultBuilder",
    "StaticValidator",
    "TaskExecutionHook",
    "TaskGroupingHook",
    "TaskReturnHook",
    "TaskSubmissionHook",
    "ValidationException",
]


class NodeGroupPurpose(enum.Enum):
    """What a task is for, as Hamilton's task hooks report it (``purpose=``); also at
    Hamilton's path ``asyncdag.execution.grouping``."""

    EXPAND_UNORDERED = "expand_unordered"  # the expander's own task
    GATHER = "gather"  # a collector's task
    EXECUTE_BLOCK = "execute_block"  # one block instance: an item of a Parallelizable
    EXECUTE_SINGLE = "execute_single"  # a node outside any block


class ValidationException(GraphError):
    """A ``StaticValidator`` refused a node or the graph at build time."""


class LifecycleAdapter(abc.ABC):  # noqa: B024 - a marker, as Hamilton's is
    """Base of every Hamilton-style adapter (Hamilton's ``lifecycle.base.LifecycleAdapter``)."""


class ResultBuilder(LifecycleAdapter):
    """Turns the ``{output: value}`` dict of a run into what ``execute`` returns."""

    @abc.abstractmethod
    def build_result(self, **outputs: Any) -> Any:
        """The result of a run, given its outputs as keyword arguments."""

    def input_types(self) -> list[type[Any]]:
        """The types of output this builder accepts."""
        return [Any]

    def output_type(self) -> Any:
        """The type of what :meth:`build_result` returns."""
        return Any


class LegacyResultMixin(ResultBuilder):
    """Hamilton's older result-builder base, where ``build_result`` is a static method."""

    @staticmethod
    @abc.abstractmethod
    def build_result(**outputs: Any) -> Any:
        """The result of a run, given its outputs as keyword arguments."""


class GraphAdapter(LegacyResultMixin):
    """Hamilton's legacy graph adapter: a result builder with type checks and node calls.

    ``execute_node`` is honoured when a subclass overrides it (it then runs every node, like
    ``NodeExecutionMethod.run_to_execute_node``).
    """

    @staticmethod
    def check_input_type(node_type: Any, input_value: Any) -> bool:
        """Whether ``input_value`` fits ``node_type`` (used for run inputs)."""
        return value_fits(input_value, node_type)

    @staticmethod
    def check_node_type_equivalence(node_type: Any, input_type: Any) -> bool:
        """Whether an edge from ``input_type`` to ``node_type`` is valid."""
        return bool(node_type == input_type)

    def execute_node(self, node: Any, kwargs: dict[str, Any]) -> Any:
        """Run one node: ``node.callable(**kwargs)``."""
        return node.callable(**kwargs)


class NodeExecutionHook(LifecycleAdapter):
    """Called before and after every node call."""

    @abc.abstractmethod
    def run_before_node_execution(
        self,
        *,
        node_name: str,
        node_tags: dict[str, Any],
        node_kwargs: dict[str, Any],
        node_return_type: type,
        task_id: str | None,
        run_id: str,
        node_input_types: dict[str, Any],
        **future_kwargs: Any,
    ) -> Any:
        """A node is about to run with ``node_kwargs``."""

    @abc.abstractmethod
    def run_after_node_execution(
        self,
        *,
        node_name: str,
        node_tags: dict[str, Any],
        node_kwargs: dict[str, Any],
        node_return_type: type,
        result: Any,
        error: Exception | None,
        success: bool,
        task_id: str | None,
        run_id: str,
        **future_kwargs: Any,
    ) -> Any:
        """A node returned ``result`` (``success``) or raised ``error``."""


class GraphExecutionHook(LifecycleAdapter):
    """Called before and after every run."""

    @abc.abstractmethod
    def run_before_graph_execution(
        self,
        *,
        graph: HamiltonGraph,
        final_vars: list[str],
        inputs: dict[str, Any],
        overrides: dict[str, Any],
        execution_path: Collection[str],
        run_id: str,
        **future_kwargs: Any,
    ) -> Any:
        """A run starts; ``execution_path`` names the nodes it will run."""

    @abc.abstractmethod
    def run_after_graph_execution(
        self,
        *,
        graph: HamiltonGraph,
        success: bool,
        error: Exception | None,
        results: dict[str, Any] | None,
        run_id: str,
        **future_kwargs: Any,
    ) -> Any:
        """A run ended."""


class TaskExecutionHook(LifecycleAdapter):
    """Called around every block instance (one item of a Parallelizable)."""

    @abc.abstractmethod
    def run_before_task_execution(
        self,
        *,
        task_id: str,
        run_id: str,
        nodes: list[HamiltonNode],
        inputs: dict[str, Any],
        overrides: dict[str, Any],
        spawning_task_id: str | None,
        purpose: NodeGroupPurpose,
        **future_kwargs: Any,
    ) -> Any:
        """A task is about to run."""

    @abc.abstractmethod
    def run_after_task_execution(
        self,
        *,
        task_id: str,
        run_id: str,
        nodes: list[HamiltonNode],
        results: dict[str, Any] | None,
        success: bool,
        error: Exception | None,
        spawning_task_id: str | None,
        purpose: NodeGroupPurpose,
        **future_kwargs: Any,
    ) -> Any:
        """A task finished (or failed)."""


class TaskSubmissionHook(LifecycleAdapter):
    """Called when a block instance is handed to its executor."""

    @abc.abstractmethod
    def run_before_task_submission(
        self,
        *,
        run_id: str,
        task_id: str,
        nodes: list[HamiltonNode],
        inputs: dict[str, Any],
        overrides: dict[str, Any],
        spawning_task_id: str | None,
        purpose: NodeGroupPurpose,
        **future_kwargs: Any,
    ) -> Any:
        """A task is submitted."""


class TaskReturnHook(LifecycleAdapter):
    """Called when a block instance's executor hands its outcome back."""

    @abc.abstractmethod
    def run_after_task_return(
        self,
        *,
        run_id: str,
        task_id: str,
        nodes: list[HamiltonNode],
        result: Any,
        success: bool,
        error: Exception | None,
        spawning_task_id: str | None,
        purpose: NodeGroupPurpose,
        **future_kwargs: Any,
    ) -> Any:
        """A task came back."""


class TaskGroupingHook(LifecycleAdapter):
    """Called after an expansion (see the module docstring for what asyncdag reports)."""

    @abc.abstractmethod
    def run_after_task_grouping(
        self, *, run_id: str, task_ids: list[str], **future_kwargs: Any
    ) -> Any:
        """Not called by asyncdag: its tasks are made one by one as items stream."""

    @abc.abstractmethod
    def run_after_task_expansion(
        self, *, run_id: str, task_id: str, parameters: dict[str, Any], **future_kwargs: Any
    ) -> Any:
        """An expansion finished; ``parameters`` has one key per item it yielded."""


class GraphConstructionHook(LifecycleAdapter):
    """Called once the driver's graph is built."""

    @abc.abstractmethod
    def run_after_graph_construction(
        self, *, graph: HamiltonGraph, config: dict[str, Any], **future_kwargs: Any
    ) -> Any:
        """The graph was built under ``config``."""


class NodeExecutionMethod(LifecycleAdapter):
    """Replaces the call of every node: return what the node should produce."""

    @abc.abstractmethod
    def run_to_execute_node(
        self,
        *,
        node_name: str,
        node_tags: dict[str, Any],
        node_callable: Any,
        node_kwargs: dict[str, Any],
        task_id: str | None,
        is_expand: bool,
        is_collect: bool,
        **future_kwargs: Any,
    ) -> Any:
        """Run the node (usually ``node_callable(**node_kwargs)``) and return its result."""


class StaticValidator(LifecycleAdapter):
    """Checks nodes and the graph when the driver is built; a failure fails ``build()``."""

    def run_to_validate_node(
        self, *, node: HamiltonNode, **future_kwargs: Any
    ) -> tuple[bool, str | None]:
        """``(True, None)`` for a valid node, else ``(False, why)``."""
        return True, None

    def run_to_validate_graph(
        self, graph: HamiltonGraph, **future_kwargs: Any
    ) -> tuple[bool, str | None]:
        """``(True, None)`` for a valid graph, else ``(False, why)``."""
        return True, None


class EdgeConnectionHook(LifecycleAdapter):
    """Widens the type checks: ``True`` accepts an edge or an input the default refused."""

    @abc.abstractmethod
    def check_edge_types_match(self, type_from: type, type_to: type, **kwargs: Any) -> bool:
        """Whether a node returning ``type_from`` may feed a parameter of ``type_to``."""

    @abc.abstractmethod
    def validate_input(self, node_type: type, input_value: Any, **kwargs: Any) -> bool:
        """Whether ``input_value`` may be passed where ``node_type`` is declared."""
