"""Builder and Driver: build a graph once, run it any number of times, sync or async.

Example::

    from asyncdag import driver
    import my_dataflow

    dr = driver.Builder().with_modules(my_dataflow).with_config({"mode": "fast"}).build()
    dr.execute(["total"], inputs={"path": "data/"})          # from sync code
    await dr.aexecute(["total"], inputs={"path": "data/"})   # from async code

A driver is immutable after ``build()`` and serves any number of concurrent runs; each
``aexecute`` call has its own state and leaves no task behind when it returns, fails or is
cancelled.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import copy as _copy
import os
import signal
import threading
import types
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from asyncdag import _calls, _notebook
from asyncdag import _driver_surface as _surface
from asyncdag._driver_views import GraphViews
from asyncdag._memo import memo_of
from asyncdag.base import PandasDataFrameResult
from asyncdag.caching.adapter import CacheAdapter
from asyncdag.errors import ExecutionRequestError, ExecutorError, InputTypeError, RunningLoopError
from asyncdag.execution import grouping as _grouping
from asyncdag.execution._engine import Event, Placement, execute
from asyncdag.execution._plan import CallStep, ExpandStep, Plan, compile_plan
from asyncdag.execution._resources import ResourceCache
from asyncdag.execution._run import call_hooks
from asyncdag.execution._threads import ThreadPool
from asyncdag.execution.executors import AsyncioExecutor, TaskExecutor
from asyncdag.graph._build import Graph
from asyncdag.graph._cycles import for_request
from asyncdag.graph._select import select
from asyncdag.graph._types import describe, value_fits
from asyncdag.graph_types import Variable
from asyncdag.htypes import ItemFailure
from asyncdag.io._materialize import ExtractorFactory, MaterializerFactory, apply_materializers
from asyncdag.lifecycle._hamilton import input_checks, notify_graph_built, translate
from asyncdag.lifecycle._hooks import HookSet
from asyncdag.resources import PER_WORKER_TAG

__all__ = ["DEFAULT_WINDOW", "Builder", "Driver", "StreamEvent", "Variable"]

#: Items an expansion may have yielded but not yet delivered to every collector.
DEFAULT_WINDOW = 1024

Materializer = MaterializerFactory | ExtractorFactory


@dataclass(frozen=True)
class StreamEvent:
    """One value as ``astream`` reports it.

    ``kind`` is ``"item"`` for a node's value as soon as it is produced (``index`` is the item
    path inside Parallelizable blocks, ``()`` outside), ``"failure"`` for an item that a
    ``skip``/``deliver`` error policy ended (``value`` is the :class:`~asyncdag.htypes.ItemFailure`)
    and ``"result"`` for the final outputs, sent once at the end in ``value`` as a dict.
    """

    kind: str
    node: str
    index: tuple[int, ...]
    value: Any


class Builder:
    """Assembles a :class:`Driver` piece by piece, with Hamilton's method names."""

    #: what ``build()`` makes (``asyncdag.async_driver.Builder`` makes an ``AsyncDriver``)
    driver_class: type[Driver]

    def __init__(self) -> None:
        self._modules: list[types.ModuleType] = []
        self._config: dict[str, Any] = {}
        self._local: TaskExecutor | None = None
        self._remote: TaskExecutor | None = None
        self._grouping: _grouping.GroupingStrategy = _grouping.GroupByRepeatableBlocks()
        self._adapters: list[Any] = []
        self._allow_overrides = False
        self._window = DEFAULT_WINDOW
        self._materializers: list[Materializer] = []

    def with_modules(self, *modules: types.ModuleType) -> Builder:
        """Add modules whose functions become the graph's nodes."""
        self._modules.extend(modules)
        return self

    def with_config(self, config: Mapping[str, Any]) -> Builder:
        """Add configuration: read by ``@config.when`` and visible to nodes as inputs."""
        self._config.update(config)
        return self

    def enable_dynamic_execution(self, *, allow_experimental_mode: bool = False) -> Builder:
        """Accepted for compatibility: streaming execution of Parallelizable is always on."""
        return self

    def with_local_executor(self, executor: TaskExecutor) -> Builder:
        """The executor for nodes outside any Parallelizable block."""
        self._local = executor
        return self

    def with_remote_executor(self, executor: TaskExecutor) -> Builder:
        """The executor for block instances (one per item of a Parallelizable)."""
        self._remote = executor
        return self

    def with_grouping_strategy(self, strategy: _grouping.GroupingStrategy) -> Builder:
        """How nodes become tasks; see :mod:`asyncdag.execution.grouping`."""
        self._grouping = strategy
        return self

    def with_adapters(self, *adapters: Any) -> Builder:
        """Lifecycle hooks called around runs, tasks and nodes (asyncdag's
        :class:`~asyncdag.lifecycle.LifecycleHooks` or Hamilton-style adapters), and at most
        one result builder (``asyncdag.base``), which shapes what ``execute`` returns."""
        self._adapters.extend(adapters)
        return self

    def with_adapter(self, adapter: Any) -> Builder:
        """Hamilton's one legacy graph adapter (e.g. ``base.SimplePythonGraphAdapter(...)``)."""
        self._adapters.append(adapter)
        return self

    def with_materializers(self, *materializers: Materializer) -> Builder:
        """Add ``to.<key>(...)`` savers and ``from_.<key>(...)`` loaders to the graph
        (:mod:`asyncdag.io.materialization`); a saver is run by requesting its ``id``."""
        self._materializers.extend(materializers)
        return self

    def with_window(self, window: int) -> Builder:
        """Items an expansion may run ahead of its collectors (default ``DEFAULT_WINDOW``)."""
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        self._window = window
        return self

    def with_cache(
        self,
        path: str | os.PathLike[str] = ".asyncdag_cache",
        metadata_store: Any = None,
        result_store: Any = None,
        default: Any = None,
        recompute: Any = None,
        ignore: Any = None,
        disable: Any = None,
        default_behavior: str | None = None,
        default_loader_behavior: str | None = None,
        default_saver_behavior: str | None = None,
        log_to_file: bool = False,
        **options: Any,
    ) -> Builder:
        """Cache node results under ``path`` (SQLite metadata, result files): Hamilton's
        ``with_cache``, per item inside blocks, on every executor, for every kind of run.

        ``default``, ``recompute``, ``ignore``, ``disable``: node names, or ``True`` for all
        (see :class:`asyncdag.caching.CachingBehavior`); ``default_behavior`` for the rest.
        Also ``cache_failures`` (store the failures of ``on_error("deliver"/"skip")`` nodes;
        default True) and ``memory_bytes``; see :class:`asyncdag.caching.adapter.CacheAdapter`.
        Example: ``Builder().with_modules(m).with_cache(".cache", recompute=["raw_data"])``.
        """
        self._adapters.append(
            CacheAdapter(
                path,
                metadata_store,
                result_store,
                default,
                recompute,
                ignore,
                disable,
                default_behavior,  # type: ignore[arg-type]
                default_loader_behavior,  # type: ignore[arg-type]
                default_saver_behavior,  # type: ignore[arg-type]
                log_to_file,
                **options,
            )
        )
        return self

    def allow_module_overrides(self) -> Builder:
        """Let a later module redefine a node of an earlier one instead of failing."""
        self._allow_overrides = True
        return self

    def copy(self) -> Builder:
        """An independent copy of this builder (modules and executors are shared)."""
        new = _copy.copy(self)
        new._modules = list(self._modules)
        new._config = dict(self._config)
        new._adapters = list(self._adapters)
        new._materializers = list(self._materializers)
        return new

    def build(self) -> Driver:
        """Build and validate the graph; raises a ``GraphError`` naming what is wrong."""
        graph = _surface.build_graph_for(
            self._modules,
            self._config,
            self._adapters,
            allow_module_overrides=self._allow_overrides,
            materializers=self._materializers,
        )
        # Plan every node once, as if every input were given: what only shows in a plan (a
        # streaming collector that would deadlock) is then reported here, at build().
        provided = frozenset(graph.inputs) | frozenset(graph.config)
        compile_plan(select(graph, tuple(graph.order), provided))
        return self.driver_class(
            graph,
            local=self._local,
            remote=self._remote,
            grouping=self._grouping,
            adapters=self._adapters,
            window=self._window,
        )


class Driver(GraphViews):
    """Runs a built graph. Use :class:`Builder` to make one.

    Hamilton's constructor works too: ``Driver(config, module, ..., adapter=...)`` builds the
    graph of ``module`` under ``config``; without a result builder among the adapters it
    returns a pandas DataFrame, as Hamilton's does.
    """

    def __init__(
        self,
        graph: Graph | Mapping[str, Any],
        *modules: types.ModuleType,
        adapter: Any = None,
        allow_module_overrides: bool = False,
        local: TaskExecutor | None = None,
        remote: TaskExecutor | None = None,
        grouping: _grouping.GroupingStrategy | None = None,
        adapters: Sequence[Any] = (),
        window: int = DEFAULT_WINDOW,
    ) -> None:
        if not isinstance(graph, Graph):  # Hamilton's Driver(config, *modules, adapter=...)
            adapters = [*_surface.as_adapter_list(adapter), *adapters]
            if _surface.result_builder_of(adapters) is None:
                adapters.append(PandasDataFrameResult())
            graph = _surface.build_graph_for(
                modules, graph, adapters, allow_module_overrides=allow_module_overrides
            )
        elif modules or adapter is not None:
            raise TypeError(
                "Driver(graph, ...) takes no modules or adapter=; use Builder(), or Hamilton's"
                " Driver(config, *modules, adapter=...)"
            )
        self.graph = graph
        if local is None:  # an adapter may bring the executor it needs (h_threadpool)
            local = _surface.executor_from_adapters(adapters)
        self._default_local = local is None
        self._default_remote = remote is None
        if local is None:
            local = AsyncioExecutor()
            local.inline_in_execute = True  # execute()'s private loop serves nothing else
        if remote is None:
            if isinstance(local, AsyncioExecutor):
                remote = local
            else:
                remote = AsyncioExecutor()
                remote.inline_in_execute = True
        self.local = local
        self.remote = remote
        self.grouping = grouping or _grouping.GroupByRepeatableBlocks()
        self.adapters = tuple(adapters)
        self._result_builder = _surface.result_builder_of(self.adapters)
        self._accepts_input = input_checks(self.adapters)
        self._hooks = HookSet(translate(self.adapters, graph))
        self.window = window
        self._resources = ResourceCache()
        self._plans: dict[tuple[tuple[str, ...], frozenset[str], bool], Plan] = {}
        self._placements = {
            private: Placement(
                self.local,
                self.remote,
                private_loop=private,
                group_blocks=self.grouping.group_blocks,
            )
            for private in (False, True)
        }
        self._input_checks: dict[Plan, list[tuple[str, list[tuple[str, Any]]]]] = {}
        self._closed = False
        for adapter in self.adapters:
            if isinstance(adapter, CacheAdapter):
                adapter.bind_graph(graph)
        notify_graph_built(self.adapters, graph)

    def __reduce__(self) -> tuple[Callable[[bytes], Driver], tuple[bytes]]:
        """A driver pickles (to ship it to Spark, Ray or another process): its graph, its
        adapters and the executors it was given travel; default executors are made anew."""
        state = {
            "cls": type(self),
            "graph": self.graph,
            "local": None if self._default_local else self.local,
            "remote": None if self._default_remote else self.remote,
            "grouping": self.grouping,
            "adapters": self.adapters,
            "window": self.window,
        }
        return (_surface.restore_driver, (_surface.reduce_state(state),))

    @property
    def cache(self) -> CacheAdapter:
        """The cache that ``Builder().with_cache()`` added: run ids, logs, data versions."""
        for adapter in self.adapters:
            if isinstance(adapter, CacheAdapter):
                return adapter
        raise KeyError("this driver has no cache; add one with Builder().with_cache()")

    # -- planning ------------------------------------------------------------------------

    def _plan(
        self, outputs: tuple[str, ...], provided: frozenset[str], streaming: bool = False
    ) -> Plan:
        key = (outputs, provided, streaming)
        plan = self._plans.get(key)
        if plan is None:
            selection = select(for_request(self.graph, outputs, provided), outputs, provided)
            plan = compile_plan(selection, streaming=streaming)
            if self._hooks.node_wrappers:
                _wrap_nodes(plan, self._hooks.node_wrappers)
            if len(self._plans) > 512:  # many distinct requests: keep memory bounded
                self._plans.clear()
                self._input_checks.clear()
            self._plans[key] = plan
        return plan

    def _prepare(
        self,
        final_vars: Iterable[str],
        overrides: Mapping[str, Any] | None,
        inputs: Mapping[str, Any] | None,
        streaming: bool = False,
    ) -> tuple[Plan, dict[str, Any]]:
        values: dict[str, Any] = dict(self.graph.config)
        if inputs:
            values.update(inputs)
        if overrides:
            values.update(overrides)
        outputs = tuple(final_vars)
        plan = self._plan(outputs, frozenset(values), streaming)
        if inputs:
            self._check_input_types(plan, inputs)
        return plan, values

    def _check_input_types(self, plan: Plan, inputs: Mapping[str, Any]) -> None:
        checks = self._input_checks.get(plan)
        if checks is None:
            checks = self._input_checks[plan] = self._plan_input_checks(plan)
        for name, readers in checks:
            if name not in inputs:
                continue
            value = inputs[name]
            seen: type = type(value)
            for node_name, declared in readers:
                if declared is seen or value_fits(value, declared):
                    continue
                if any(accepts(declared, value) for accepts in self._accepts_input):
                    continue
                raise InputTypeError(
                    f"input {name!r} is {type(value).__qualname__}, but node {node_name!r}"
                    f" declares parameter {name!r} as {describe(declared)}. Pass a value of"
                    " that type, or correct the annotation."
                )

    def _plan_input_checks(self, plan: Plan) -> list[tuple[str, list[tuple[str, Any]]]]:
        """Per input the plan reads: one (node, type) per distinct declared type."""
        checks = []
        for name in sorted(plan.required_inputs | plan.optional_inputs):
            readers: dict[Any, str] = {}
            for node, dep in self.graph.inputs.get(name, ()):
                if not dep.kind.collects and dep.type is not Any:
                    readers.setdefault(dep.type, node.name)
            if readers:
                checks.append((name, [(n, t) for t, n in readers.items()]))
        return checks

    def validate_execution(
        self,
        final_vars: Iterable[str],
        overrides: Mapping[str, Any] | None = None,
        inputs: Mapping[str, Any] | None = None,
    ) -> None:
        """Raise the error a run of ``final_vars`` would raise before running any user code."""
        self._prepare(_surface.output_names(self.graph, final_vars), overrides, inputs)

    def validate_inputs(
        self,
        final_vars: Iterable[Any],
        inputs: Mapping[str, Any] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> None:
        """Check that ``inputs`` (with the config and ``overrides``) give a run of
        ``final_vars`` every input it needs, of the declared types; raise the error the run
        would raise (``MissingInputError``, ``InputTypeError`` ...) otherwise."""
        self.validate_execution(final_vars, overrides=overrides, inputs=inputs)

    # -- running -------------------------------------------------------------------------

    async def aexecute(
        self,
        final_vars: Iterable[Any],
        overrides: Mapping[str, Any] | None = None,
        display_graph: bool = False,
        inputs: Mapping[str, Any] | None = None,
    ) -> Any:
        """Run the graph on the current event loop and return ``{output: value}``.

        Sync node functions run off the loop (on the executor's threads or processes), so the
        loop stays responsive. Raises ``MissingInputError`` / ``UnknownOutputError`` before
        any user code runs, and ``NodeExecutionError`` (with the user's exception as
        ``__cause__``) when a node fails. Cancelling the awaiting task cancels the run.
        """
        # written out rather than decorated as execute() is (returns_result): one coroutine
        # less per run, on the path a web app takes for every request
        names = _surface.output_names(self.graph, final_vars)
        outputs = await self._aexecute(names, overrides, inputs, private_loop=False)
        return _surface.build_result(self, outputs)

    async def _aexecute(
        self,
        final_vars: Iterable[str],
        overrides: Mapping[str, Any] | None,
        inputs: Mapping[str, Any] | None,
        *,
        private_loop: bool,
        events: Any = None,
    ) -> dict[str, Any]:
        if self._closed:
            raise ExecutorError("this driver is closed; build a new one")
        plan, values = self._prepare(final_vars, overrides, inputs, streaming=events is not None)
        hooks = self._hooks if self._hooks else None
        run_id = _calls.new_run_id()
        if hooks is not None:
            await call_hooks(
                hooks,
                "run_before_graph_execution",
                run_id=run_id,
                final_vars=list(plan.outputs),
                inputs=dict(inputs or {}),
                overrides=dict(overrides or {}),
            )
        try:
            await execute(
                plan.root,
                values,
                self._placements[private_loop],
                run_id=run_id,
                window=self.window,
                resources=self._resources,
                hooks=hooks,
                events=events,
            )
        except BaseException as exc:
            if hooks is not None:
                await _after_run(hooks, run_id, exc, None)
            raise
        results = {name: values[name] for name in plan.returned}
        if hooks is not None:
            await _after_run(hooks, run_id, None, results)
        return results

    @_surface.returns_result
    def execute(
        self,
        final_vars: Iterable[str],
        overrides: Mapping[str, Any] | None = None,
        display_graph: bool = False,
        inputs: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Run the graph from sync code and return ``{output: value}``.

        Runs on a private event loop (uvloop when installed), one per thread, reused across
        calls. Because that loop serves nothing else, sync node functions run inline on it
        when the executor in charge is the default one (as Hamilton's default does); async
        nodes still run concurrently, and sync generators are still advanced on their own
        thread. Set an executor explicitly (e.g. ``MultiThreadingExecutor``) to run blocking
        sync nodes in parallel. Called inside a running event loop it raises
        ``RunningLoopError``: use ``await dr.aexecute(...)`` there; except in a Jupyter /
        IPython kernel, where the run goes to a private loop on a helper thread.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            if _notebook.in_kernel():
                run = self._aexecute(final_vars, overrides, inputs, private_loop=True)
                return _notebook.run_in_helper_loop(run)
            raise RunningLoopError(
                "Driver.execute() was called inside a running event loop, where it would block"
                " that loop. Use `await dr.aexecute(...)` instead."
            )
        result: dict[str, Any] = _run_private(
            self._aexecute(final_vars, overrides, inputs, private_loop=True)
        )
        return result

    async def astream(
        self,
        final_vars: Iterable[str],
        overrides: Mapping[str, Any] | None = None,
        inputs: Mapping[str, Any] | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """Run the graph and yield each requested output's values as they are produced.

        In-block outputs arrive once per item (``kind="item"``, with the item's index path),
        and items ended by an error policy as ``kind="failure"``; the last event has
        ``kind="result"`` with the outputs outside any block as ``value`` (in-block outputs
        were delivered item by item and are not gathered again). Errors about the request
        (missing inputs, unknown outputs) are raised before the first event.

        The stream is bounded by the window: an item's window credit comes back only once
        the reader has taken its events, so a slow reader slows the run instead of filling
        memory. Leaving the ``async for`` early (or ``aclose()``) cancels the run and waits
        for it to end.

        Example::

            async for event in dr.astream(["page_size"], inputs={...}):
                if event.kind == "item":
                    print(event.index, event.value)
        """
        final_vars = _surface.output_names(self.graph, final_vars)  # functions, Variables
        self._prepare(final_vars, overrides, inputs, streaming=True)  # request errors first
        queue: asyncio.Queue[Event | None] = asyncio.Queue()

        async def produce() -> dict[str, Any]:
            try:
                return await self._aexecute(
                    final_vars, overrides, inputs, private_loop=False, events=queue.put_nowait
                )
            finally:
                queue.put_nowait(None)

        task = asyncio.ensure_future(produce())
        try:
            while True:
                event = await queue.get()
                if event is None:
                    break
                name, index, value, release = event
                if release is not None:
                    release()  # the reader has it: the item's credit may come back
                kind = "failure" if isinstance(value, ItemFailure) else "item"
                yield StreamEvent(kind, name, index, value)
            result = await task
            yield StreamEvent("result", "", (), result)
        finally:
            if not task.done():
                task.cancel()
            # Wait for the run to end (it cleans up after itself); a cancellation of the
            # reader that arrives meanwhile is re-raised once it has, never swallowed.
            cancelled = False
            while not task.done():
                try:
                    await asyncio.wait({task})
                except asyncio.CancelledError:
                    cancelled = True
            if not task.cancelled():
                task.exception()  # retrieved: raised above when it mattered
            del task  # as in _run_private: a failed run's traceback holds this frame
            if cancelled:
                raise asyncio.CancelledError()

    # -- introspection -------------------------------------------------------------------

    def export_execution(
        self,
        final_vars: Iterable[Any],
        inputs: Mapping[str, Any] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> str:
        """JSON (``{"nodes": [...]}``, each as ``Variable.as_dict()``) of what a run of
        ``final_vars`` would execute and read; raises what the run would for a bad request."""
        names = _surface.output_names(self.graph, final_vars)
        self.validate_execution(names, overrides=overrides, inputs=inputs)
        provided = (
            frozenset(self.graph.config) | frozenset(inputs or ()) | frozenset(overrides or ())
        )
        return _surface.export_execution(self.graph, names, provided)

    # -- materializers ---------------------------------------------------------------------

    def _materializing(self, materializers: Sequence[Materializer]) -> Driver:
        """A driver of this graph with ``materializers`` added, sharing the executors; it
        returns plain dicts."""
        sibling = Driver(
            apply_materializers(self.graph, materializers),
            local=self.local,
            remote=self.remote,
            grouping=self.grouping,
            adapters=[a for a in self.adapters if not _surface.is_result_builder(a)],
            window=self.window,
        )
        # the same executors and per-worker resources, and the same choice of inline calls
        sibling._default_local, sibling._default_remote = self._default_local, self._default_remote
        sibling._resources = self._resources
        return sibling

    def materialize(
        self,
        *materializers: Materializer,
        additional_vars: Iterable[Any] | None = None,
        overrides: Mapping[str, Any] | None = None,
        inputs: Mapping[str, Any] | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Run with savers (``to.<key>(...)``) and loaders (``from_.<key>(...)``) added for
        this call; returns ``({saver id: its metadata}, {additional var: value})``.

        Example::

            meta, results = dr.materialize(
                to.json(id="report_json", dependencies=["report"], path="report.json"),
                from_.csv(target="raw", path="raw.csv"),
                additional_vars=["report"],
            )
        """
        sibling, saved, extra = self._materialize_request(materializers, additional_vars)
        raw = sibling.execute([*saved, *extra], overrides=overrides, inputs=inputs)
        return {k: raw[k] for k in saved}, {k: raw[k] for k in extra}

    async def amaterialize(
        self,
        *materializers: Materializer,
        additional_vars: Iterable[Any] | None = None,
        overrides: Mapping[str, Any] | None = None,
        inputs: Mapping[str, Any] | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """:meth:`materialize` on the running event loop (the file adapters use aiofiles)."""
        sibling, saved, extra = self._materialize_request(materializers, additional_vars)
        raw = await sibling.aexecute([*saved, *extra], overrides=overrides, inputs=inputs)
        return {k: raw[k] for k in saved}, {k: raw[k] for k in extra}

    def _materialize_request(
        self, materializers: Sequence[Materializer], additional_vars: Iterable[Any] | None
    ) -> tuple[Driver, list[str], list[str]]:
        extra = _surface.output_names(self.graph, additional_vars or [])
        saved = [m.id for m in materializers if isinstance(m, MaterializerFactory)]
        if not saved and not extra:
            raise ExecutionRequestError(
                "nothing to materialize: pass to.<key>(...) savers, or additional_vars to compute"
            )
        return self._materializing(materializers), saved, extra

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Shut down the executors this driver uses. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._resources.close()
        for executor in {id(e): e for e in (self.local, self.remote)}.values():
            executor.close()

    async def aclose(self) -> None:
        """Async form of :meth:`close`: also tears down async per-worker resources of this
        loop, and waits for worker processes off the loop."""
        if self._closed:
            return
        await self._resources.aclose()
        # off the loop (a process pool waits for its workers), never on its default executor
        await _CLOSERS.submit(asyncio.get_running_loop(), self.close).future

    async def __aenter__(self) -> Driver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __enter__(self) -> Driver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


Builder.driver_class = Driver


async def _after_run(
    hooks: HookSet, run_id: str, error: BaseException | None, results: dict[str, Any] | None
) -> None:
    try:
        await call_hooks(
            hooks,
            "run_after_graph_execution",
            run_id=run_id,
            success=error is None,
            error=error,
            results=results,
        )
    except asyncio.CancelledError:
        if error is None:
            raise
    except Exception:
        if error is None:
            raise  # a hook's own failure, when the run itself went well


_CLOSERS = ThreadPool(4, "asyncdag-close")


def _wrap_nodes(plan: Plan, wrappers: Sequence[Any]) -> None:
    """Apply the adapters' ``wrap_node`` to every node call and expander of ``plan``."""
    todo = [plan.root]
    while todo:
        block = todo.pop()
        for step in block.steps:
            if isinstance(step, ExpandStep):
                todo.append(step.child)
                if step.overridden_items:
                    continue
            elif not isinstance(step, CallStep):
                continue
            node = step.node
            if node.tags.get(PER_WORKER_TAG):
                continue
            fn = original = step.fn
            for wrap in wrappers:
                replaced = wrap(
                    node_name=node.name,
                    node_tags=dict(node.tags),
                    fn=fn,
                    is_async=step.is_async,
                    is_expander=isinstance(step, ExpandStep),
                    in_block=bool(block.scope),
                    node=node,
                    resource_args=step.resource_args,
                )
                if replaced is not None:
                    fn = replaced
            if fn is not original and isinstance(step, CallStep):
                memo = memo_of(fn)
                step.memo = memo
                if memo is None or memo.fn is not original:
                    step.wants_call = True  # a hook's wrapper may read the call's CallInfo
            step.fn = fn


_private = threading.local()


class _PrivateLoop:
    """This thread's private loop; closed when the thread ends (its thread-local goes)."""

    __slots__ = ("loop",)

    def __init__(self) -> None:
        try:
            import uvloop

            self.loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        except ImportError:  # pragma: no cover - uvloop installs wherever it is supported
            self.loop = asyncio.new_event_loop()

    def __del__(self) -> None:
        loop = self.loop
        if not loop.is_closed() and not loop.is_running():
            loop.close()


def _run_private(coro: Any) -> Any:
    """Run ``coro`` on this thread's private loop (uvloop when installed).

    The loop is made once per thread and reused: creating a loop per call costs more than a
    whole small run. Nothing else ever runs on it; it is closed when its thread ends (or at
    exit, for the main thread).

    Ctrl-C (on the main thread) cancels the run, which cleans up before ``KeyboardInterrupt``
    propagates, so nothing of the run resumes in a later call. A second Ctrl-C while a sync
    node blocks the loop interrupts that node; the run is then cleaned up the same way.
    """
    holder: _PrivateLoop | None = getattr(_private, "holder", None)
    if holder is None or holder.loop.is_closed():
        holder = _private.holder = _PrivateLoop()
        if threading.current_thread() is threading.main_thread():
            atexit.register(holder.loop.close)
    loop = holder.loop
    task = loop.create_task(coro)
    interrupted = _Interrupts(loop, task)
    try:
        with interrupted.handled():
            return loop.run_until_complete(task)
    except KeyboardInterrupt:
        interrupted.cleanup()
        raise
    except asyncio.CancelledError:
        if interrupted.count:
            raise KeyboardInterrupt() from None
        raise
    finally:
        # a failed run's traceback holds this frame; without the task (whose exception it
        # is) the two make no reference cycle, which only a full collection would free
        del task, interrupted


class _Interrupts:
    """Ctrl-C during a run on the private loop: cancel the run first, then interrupt."""

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> None:
        self.loop = loop
        self.task = task
        self.count = 0

    @contextlib.contextmanager
    def handled(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        try:
            previous = signal.getsignal(signal.SIGINT)
        except (ValueError, OSError):  # pragma: no cover - no signals here
            yield
            return
        if previous is not signal.default_int_handler:
            yield  # the application handles Ctrl-C itself: leave it alone
            return
        signal.signal(signal.SIGINT, self._on_sigint)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _on_sigint(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.count == 1 and not self.task.done():
            self.task.cancel()
            self.loop.call_soon_threadsafe(lambda: None)  # wake the loop if it sleeps
            return
        raise KeyboardInterrupt()

    def cleanup(self) -> None:
        """After a KeyboardInterrupt escaped the loop: end the run before it propagates."""
        if self.task.done():
            return
        self.task.cancel()
        while not self.task.done():
            try:
                self.loop.run_until_complete(asyncio.wait({self.task}))
            except KeyboardInterrupt:
                self.task.cancel()  # still cleaning up: keep at it
        if not self.task.cancelled():
            self.task.exception()  # retrieved: the interrupt is what the caller sees
