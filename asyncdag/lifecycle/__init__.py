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
"""

from asyncdag.lifecycle._hooks import LifecycleHooks as LifecycleHooks
from asyncdag.lifecycle.progress import ProgressBar as ProgressBar
from asyncdag.lifecycle.progress import ProgressState as ProgressState
from asyncdag.lifecycle.summary import NodeSummary as NodeSummary
from asyncdag.lifecycle.summary import RunReport as RunReport
from asyncdag.lifecycle.summary import RunSummary as RunSummary
from asyncdag.lifecycle.trace import ChromeTrace as ChromeTrace

__all__ = [
    "ChromeTrace",
    "LifecycleHooks",
    "NodeSummary",
    "ProgressBar",
    "ProgressState",
    "RunReport",
    "RunSummary",
]
