"""Lifecycle hooks: one typed interface, sync or async, with Hamilton's hook names.

Subclass :class:`LifecycleHooks`, override the methods you need (plain ``def`` or
``async def``), and pass an instance to ``Builder.with_adapters(...)``::

    from asyncdag import driver, lifecycle

    class Timing(lifecycle.LifecycleHooks):
        def run_after_node_execution(self, *, node_name, index, success, **future_kwargs):
            print(node_name, index, "ok" if success else "failed")

    dr = driver.Builder().with_modules(my_module).with_adapters(Timing()).build()

Every method takes keyword arguments only and must accept ``**future_kwargs``, so that new
arguments can be added without breaking hooks. A sync hook runs inline, on the event loop's
thread: keep it quick. An async hook of a run-level event is awaited; one of a node, task or
item event is started as a task of the run, and the run waits for it before it returns. An
exception in a hook fails the run, like an exception in a node.

What is a *task*: one block instance (an item of a Parallelizable with its block). Node events
of blocks that run elsewhere in one piece (a thread hop for an all-sync block, a process or
cluster task) are reported when the block's values come back.

Code ported from Hamilton keeps its hooks: Hamilton's base classes and signatures
(``NodeExecutionHook``, ``GraphExecutionHook``, ``TaskExecutionHook``, ... in
:mod:`asyncdag.lifecycle.api`) and adapters (``PrintLn``, ``GracefulErrorAdapter``,
``PDBDebugger`` ... in :mod:`asyncdag.lifecycle.default`) are importable from here too.
"""

from asyncdag.lifecycle import api as api
from asyncdag.lifecycle import default as default
from asyncdag.lifecycle._hooks import LifecycleHooks as LifecycleHooks
from asyncdag.lifecycle.api import EdgeConnectionHook as EdgeConnectionHook
from asyncdag.lifecycle.api import GraphAdapter as GraphAdapter
from asyncdag.lifecycle.api import GraphConstructionHook as GraphConstructionHook
from asyncdag.lifecycle.api import GraphExecutionHook as GraphExecutionHook
from asyncdag.lifecycle.api import LegacyResultMixin as LegacyResultMixin
from asyncdag.lifecycle.api import LifecycleAdapter as LifecycleAdapter
from asyncdag.lifecycle.api import NodeExecutionHook as NodeExecutionHook
from asyncdag.lifecycle.api import NodeExecutionMethod as NodeExecutionMethod
from asyncdag.lifecycle.api import ResultBuilder as ResultBuilder
from asyncdag.lifecycle.api import StaticValidator as StaticValidator
from asyncdag.lifecycle.api import TaskExecutionHook as TaskExecutionHook
from asyncdag.lifecycle.api import TaskGroupingHook as TaskGroupingHook
from asyncdag.lifecycle.api import TaskReturnHook as TaskReturnHook
from asyncdag.lifecycle.api import TaskSubmissionHook as TaskSubmissionHook
from asyncdag.lifecycle.default import (
    FunctionInputOutputTypeChecker as FunctionInputOutputTypeChecker,
)
from asyncdag.lifecycle.default import GracefulErrorAdapter as GracefulErrorAdapter
from asyncdag.lifecycle.default import NoEdgeAndInputTypeChecking as NoEdgeAndInputTypeChecking
from asyncdag.lifecycle.default import PDBDebugger as PDBDebugger
from asyncdag.lifecycle.default import PrintLn as PrintLn
from asyncdag.lifecycle.default import accept_error_sentinels as accept_error_sentinels
from asyncdag.lifecycle.progress import ProgressBar as ProgressBar
from asyncdag.lifecycle.progress import ProgressState as ProgressState
from asyncdag.lifecycle.summary import NodeSummary as NodeSummary
from asyncdag.lifecycle.summary import RunReport as RunReport
from asyncdag.lifecycle.summary import RunSummary as RunSummary
from asyncdag.lifecycle.trace import ChromeTrace as ChromeTrace

#: Hamilton's older name for :class:`PrintLn`.
PrintLnHook = PrintLn

__all__ = [
    "ChromeTrace",
    "EdgeConnectionHook",
    "FunctionInputOutputTypeChecker",
    "GracefulErrorAdapter",
    "GraphAdapter",
    "GraphConstructionHook",
    "GraphExecutionHook",
    "LegacyResultMixin",
    "LifecycleAdapter",
    "LifecycleHooks",
    "NoEdgeAndInputTypeChecking",
    "NodeExecutionHook",
    "NodeExecutionMethod",
    "NodeSummary",
    "PDBDebugger",
    "PrintLn",
    "PrintLnHook",
    "ProgressBar",
    "ProgressState",
    "ResultBuilder",
    "RunReport",
    "RunSummary",
    "StaticValidator",
    "TaskExecutionHook",
    "TaskGroupingHook",
    "TaskReturnHook",
    "TaskSubmissionHook",
    "accept_error_sentinels",
    "api",
    "default",
]
