"""The cache adapter: ``Builder().with_cache()`` adds one, ``dr.cache`` returns it.

It is a :class:`~asyncdag.lifecycle.LifecycleHooks` adapter that acts in three places:

- ``wrap_node`` (once per node when a request's plan is made): the node's behaviour, code
  version and format are settled and a wrapper (:mod:`asyncdag.caching._wrappers`) is put in
  the node's place, so the cache sits once on every item's route, on every executor;
- ``run_before_graph_execution``: the run's state (its log, the versions of what it
  produces) is set up, and the index of the run's nodes is loaded or brought up to date, on
  the reader thread, while the loop waits for nothing else;
- ``run_after_graph_execution``: the run's writes are flushed (unless it was cancelled), so
  that when ``execute``/``aexecute`` returns, what it computed is in the cache.

What it keeps about past runs (``run_ids``, ``logs``, ``data_versions``...) is bounded to the
last ``KEEP_RUNS`` runs.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from asyncdag import viz
from asyncdag.caching import _formats
from asyncdag.caching._behavior import (
    CACHE_BEHAVIORS,
    FORMAT_KEY,
    CachingBehavior,
    NodeSelection,
    check_selections,
    resolve_behavior,
)
from asyncdag.caching._code import code_version
from asyncdag.caching._events import CachingEvent, CachingEventType, RunLog, logger, task_text
from asyncdag.caching._fingerprint import data_version
from asyncdag.caching._io import WriteOp
from asyncdag.caching._keys import create_cache_key
from asyncdag.caching._runs import RunState, forget_run, register
from asyncdag.caching._store import DEFAULT_MEMORY, Store, open_store
from asyncdag.caching._stores import FileResultStore, SQLiteMetadataStore
from asyncdag.caching._stores_base import MetadataStore, ResultStore
from asyncdag.caching._wrappers import NodeSpec, Role, wrap
from asyncdag.errors import InvalidDecoratorError
from asyncdag.graph._build import Graph
from asyncdag.graph._cycles import for_request
from asyncdag.graph._node import FRONTIER_TAG
from asyncdag.graph._select import select
from asyncdag.lifecycle._hooks import LifecycleHooks
from asyncdag.policies import DELIVER, ON_ERROR_TAG, SKIP
from asyncdag.resources import PER_WORKER_TAG
from asyncdag.viz import Drawing

__all__ = ["KEEP_RUNS", "CacheAdapter"]

#: How many past runs ``dr.cache`` remembers (ids, logs, versions).
KEEP_RUNS = 128

_uids = itertools.count(1)


class CacheAdapter(LifecycleHooks):
    """Caching for a driver: ``Builder().with_cache(...)`` makes one; ``dr.cache`` is it.

    Example::

        dr = driver.Builder().with_modules(my_dataflow).with_cache(".cache").build()
        dr.execute(["total"], inputs={"n": 10})
        dr.execute(["total"], inputs={"n": 10})          # every node is a hit
        dr.cache.logs(run_id=dr.cache.last_run_id)       # {node: [CachingEvent, ...]}

    Parameters are those of :meth:`asyncdag.driver.Builder.with_cache`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = ".asyncdag_cache",
        metadata_store: MetadataStore | None = None,
        result_store: ResultStore | None = None,
        default: NodeSelection = None,
        recompute: NodeSelection = None,
        ignore: NodeSelection = None,
        disable: NodeSelection = None,
        default_behavior: CACHE_BEHAVIORS | None = None,
        default_loader_behavior: CACHE_BEHAVIORS | None = None,
        default_saver_behavior: CACHE_BEHAVIORS | None = None,
        log_to_file: bool = False,
        *,
        cache_failures: bool = True,
        memory_bytes: int = DEFAULT_MEMORY,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise TypeError(f"with_cache() got unexpected arguments {sorted(kwargs)}")
        check_selections(default=default, recompute=recompute, ignore=ignore, disable=disable)
        self._path = Path(path)
        self.metadata_store = (
            metadata_store if metadata_store is not None else SQLiteMetadataStore(path)
        )
        self.result_store = result_store if result_store is not None else FileResultStore(path)
        self._selections: dict[CachingBehavior, NodeSelection] = {
            CachingBehavior.DEFAULT: _names(default),
            CachingBehavior.RECOMPUTE: _names(recompute),
            CachingBehavior.IGNORE: _names(ignore),
            CachingBehavior.DISABLE: _names(disable),
        }
        self.default_behavior = CachingBehavior.from_string(default_behavior or "default")
        # accepted for Hamilton's signature; asyncdag has no materializer nodes they apply to
        self.default_loader_behavior = default_loader_behavior
        self.default_saver_behavior = default_saver_behavior
        self.log_to_file = log_to_file
        self.cache_failures = cache_failures
        self.uid = next(_uids)
        self.store: Store = open_store(
            self.metadata_store, self.result_store, authoritative=True, memory_bytes=memory_bytes
        )
        self._lock = threading.Lock()
        self._behavior_by_name: dict[str, CachingBehavior] = {}
        self._code_by_name: dict[str, str] = {}
        self._pending: list[tuple[NodeSpec, Any, tuple[str, ...] | None]] = []
        self._node_keys: set[tuple[str, str]] = set()
        self._resource_names: dict[str, frozenset[str]] = {}
        self._runs: collections.OrderedDict[str, RunState] = collections.OrderedDict()
        self._logs: collections.OrderedDict[str, RunLog] = collections.OrderedDict()
        self._requests: dict[str, _Request] = {}
        self._graph: Graph | None = None
        self.run_ids: list[str] = []

    def __repr__(self) -> str:
        return f"CacheAdapter({str(self._path)!r})"

    def bind_graph(self, graph: Graph) -> None:
        """The graph of the driver this cache serves (the driver calls it when it is built):
        what ``view_run``, ``code_versions`` and ``behaviors`` read a run's nodes from."""
        self._graph = graph

    # -- plan time -------------------------------------------------------------------------

    def behavior_of(self, node_name: str, node_tags: Mapping[str, Any]) -> CachingBehavior:
        return resolve_behavior(node_name, node_tags, self._selections, self.default_behavior)

    def wrap_node(
        self,
        *,
        node_name: str,
        node_tags: dict[str, Any],
        fn: Callable[..., Any],
        is_async: bool,
        is_expander: bool,
        in_block: bool,
        node: Any,
        **future_kwargs: Any,
    ) -> Callable[..., Any] | None:
        """Put the cache in the node's place (``None`` for ``disable`` and ``ignore`` nodes)."""
        behavior = self.behavior_of(node_name, node_tags)
        code = code_version(getattr(node, "originating_function", None) or fn)
        with self._lock:
            self._behavior_by_name[node_name] = behavior
            self._code_by_name[node_name] = code
        if behavior in (CachingBehavior.DISABLE, CachingBehavior.IGNORE):
            return None
        if is_expander and node_tags.get(FRONTIER_TAG):
            # A Frontier's items are its seeds and what its block's Discovered nodes hand it:
            # it runs each time (reading its seeds again); the nodes of its block are cached,
            # so a rerun discovers the same URLs from their stored results
            return None
        fmt = str(node_tags.get(FORMAT_KEY) or "pickle")
        problem = _formats.check_format(fmt)
        if problem is not None:
            raise InvalidDecoratorError(f"@cache on node {node_name!r}: {problem}")
        on_error = node_tags.get(ON_ERROR_TAG)
        spec = NodeSpec(
            name=node_name,
            code=code,
            behavior=behavior,
            deps=(),
            fmt=fmt,
            store=self.store,
            uid=self.uid,
            in_block=in_block,
            # failures are data only where a policy ends an item with them: in a block (outside
            # one, ``on_error`` changes nothing, the failure fails the run, and a rerun must
            # call the node again)
            cache_failures=self.cache_failures and in_block and on_error in (DELIVER, SKIP),
        )
        resources = future_kwargs.get("resource_args")
        with self._lock:
            self._pending.append((spec, node, tuple(resources) if resources is not None else None))
            self._node_keys.add(spec.node_key)
        self._finish_specs()  # the dependencies offered so far; redone at the run's start
        return wrap(fn, spec, is_async=is_async, is_expander=is_expander)  # type: ignore[no-any-return]

    def _finish_specs(self, final: bool = False) -> None:
        """Settle how each pending node's dependencies enter its key."""
        with self._lock:
            pending = list(self._pending)
            if final:
                self._pending.clear()
            behaviors = dict(self._behavior_by_name)
        for spec, node, resources in pending:
            deps: list[tuple[str, Role]] = []
            for dep in getattr(node, "dependencies", ()):
                kind = getattr(getattr(dep, "kind", None), "value", "value")
                if kind == "collect":
                    role = Role.COLLECT
                elif kind != "value":
                    role = Role.STREAM
                elif (
                    self._is_resource(node, dep.name, resources)
                    or behaviors.get(dep.name) is CachingBehavior.IGNORE
                ):
                    role = Role.IGNORE
                elif behaviors.get(dep.name) is CachingBehavior.DISABLE:
                    role = Role.DISABLE
                else:
                    role = Role.VALUE
                deps.append((dep.name, role))
            spec.deps = tuple(sorted(deps))
            spec.streaming = any(role is Role.STREAM for _, role in deps)

    def _is_resource(self, node: Any, name: str, resources: tuple[str, ...] | None) -> bool:
        """Whether dependency ``name`` is a per-worker resource (a client, not data)."""
        if resources is not None:
            return name in resources
        module_name = getattr(node, "module", "") or ""
        found = self._resource_names.get(module_name)
        if found is None:
            module = sys.modules.get(module_name)
            names: set[str] = set()
            for attr, value in vars(module).items() if module is not None else ():
                if callable(value) and getattr(value, "__asyncdag_per_worker__", False):
                    names.add(attr)
                    names.add(attr.split("__")[0])  # a @config.when variant
                tags = getattr(value, "__asyncdag_tags__", None)
                if isinstance(tags, dict) and tags.get(PER_WORKER_TAG):
                    names.add(attr)
            found = self._resource_names[module_name] = frozenset(names)
        return name in found

    # -- run time --------------------------------------------------------------------------

    async def run_before_graph_execution(
        self,
        *,
        run_id: str,
        final_vars: list[str],
        inputs: dict[str, Any],
        overrides: dict[str, Any],
        **future_kwargs: Any,
    ) -> None:
        """Set up the run's state; bring the index of the run's nodes up to date."""
        self._finish_specs(final=True)
        log = RunLog(run_id, debug=logger.isEnabledFor(10))
        state = RunState(run_id, log)
        register(self.uid, state)
        with self._lock:
            self.run_ids.append(run_id)
            self._runs[run_id] = state
            self._logs[run_id] = log
            self._requests[run_id] = _Request(
                self._graph, tuple(final_vars), frozenset(inputs), frozenset(overrides)
            )
            while len(self._runs) > KEEP_RUNS:
                old, _ = self._runs.popitem(last=False)
                self._logs.pop(old, None)
                self._requests.pop(old, None)
            if len(self.run_ids) > 4 * KEEP_RUNS:
                del self.run_ids[: len(self.run_ids) - KEEP_RUNS]
            nodes = sorted(self._node_keys)
        for name in final_vars:
            log.add(name, None, "adapter", CachingEventType.IS_FINAL_VAR)
        for name in inputs:
            log.add(name, None, "adapter", CachingEventType.IS_INPUT)
        for name in overrides:
            log.add(name, None, "adapter", CachingEventType.IS_OVERRIDE)
        self.store.record_run(run_id)
        if self.store.needs_refresh(nodes):
            await self.store.arefresh(nodes)

    async def run_after_graph_execution(
        self,
        *,
        run_id: str,
        success: bool,
        error: BaseException | None,
        results: dict[str, Any] | None,
        **future_kwargs: Any,
    ) -> None:
        """Flush the run's writes, so that what it computed is stored when the run returns
        (not when it was cancelled: a cancellation must not wait). A run that stored nothing
        does not wait: its id reaches the metadata store with the next batch, moments later."""
        state = forget_run(self.uid, run_id)
        if state is None:
            return
        state.record_batches()
        if self.log_to_file and state.log is not None:
            self._append_log_file(state.log)
        if state.wrote and not isinstance(error, asyncio.CancelledError):
            await self.store.writer.flushed(asyncio.get_running_loop())

    def _append_log_file(self, log: RunLog) -> None:
        directory = getattr(self.metadata_store, "_directory", None) or self._path
        path = Path(directory) / "cache_logs.jsonl"
        lines = "".join(json.dumps(e.as_dict()) + "\n" for e in log.events("debug"))
        self.store.writer.submit(_log_op(path, lines))

    # -- what dr.cache answers -------------------------------------------------------------

    @property
    def last_run_id(self) -> str:
        """The id of the run that started last."""
        return self.run_ids[-1]

    def logs(
        self, run_id: str | None = None, level: Literal["debug", "info"] = "info"
    ) -> dict[Any, list[CachingEvent]]:
        """Events of one run by node (``(node, task_id)`` for items of a block, when known),
        or of every remembered run by run id.

        ``level="info"``: results taken from the cache (``GET_RESULT``) and nodes run
        (``EXECUTE_NODE``); ``"debug"``: everything recorded.
        """
        if run_id is not None:
            by_node: dict[Any, list[CachingEvent]] = {}
            for event in self._events(run_id, level):
                key = (event.node_name, event.task_id) if event.task_id else event.node_name
                by_node.setdefault(key, []).append(event)
            return by_node
        return {rid: self._events(rid, level) for rid in list(self._logs)}

    def _events(self, run_id: str, level: Literal["debug", "info"]) -> list[CachingEvent]:
        """This process's events of the run, then those worker processes relayed (they reach
        the database with the workers' next batch of writes, a few milliseconds after)."""
        log = self._logs.get(run_id)
        if log is None:
            raise KeyError(f"no cache log for run {run_id!r} (only the last {KEEP_RUNS})")
        found = list(log.events(level))
        relayed = RunLog(run_id, debug=True)
        relayed.extend_raw(self.store.run_events(run_id))
        found.extend(relayed.events(level))
        return found

    @property
    def data_versions(self) -> dict[str, dict[str, Any]]:
        """``{run_id: {node: data_version}}``; nodes in blocks map ``{task_id: version}``
        (the first 10,000 items of each node)."""
        return {rid: _recorded(s.versions, s.item_versions) for rid, s in list(self._runs.items())}

    @property
    def cache_keys(self) -> dict[str, dict[str, Any]]:
        """``{run_id: {node: cache_key}}``, the keys the run's results were looked up and
        stored under; nodes in blocks map ``{task_id: key}`` (the first 10,000 items)."""
        return {rid: _recorded(s.keys, s.item_keys) for rid, s in list(self._runs.items())}

    @property
    def code_versions(self) -> dict[str, dict[str, str]]:
        """``{run_id: {node: code_version}}`` of the nodes each remembered run executed."""
        out: dict[str, dict[str, str]] = {}
        for run_id in list(self._requests):
            graph = self._graph_of(run_id)
            out[run_id] = {name: self._code_of(graph, name) for name in self._run_nodes(run_id)}
        return out

    @property
    def behaviors(self) -> dict[str, dict[str, CachingBehavior]]:
        """``{run_id: {node: behavior}}`` of the nodes each remembered run executed."""
        return {run_id: self.resolve_behaviors(run_id) for run_id in list(self._requests)}

    def resolve_behaviors(self, run_id: str) -> dict[str, CachingBehavior]:
        """``{node: behavior}`` for the nodes run ``run_id`` executed: the behaviour each got
        from ``with_cache(...)``'s arguments, its ``@cache`` tag, or ``default_behavior``."""
        return {
            name: self.behavior_of(name, self._graph_of(run_id).nodes[name].tags)
            for name in self._run_nodes(run_id)
        }

    def resolve_code_versions(
        self,
        run_id: str,
        final_vars: list[str] | None = None,
        inputs: Mapping[str, Any] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> dict[str, str]:
        """``{node: code_version}`` of every node of run ``run_id``'s graph, or with
        ``final_vars`` (and the names of ``inputs`` and ``overrides``) of the nodes such a
        request would execute."""
        graph = self._graph_of(run_id)
        if final_vars is None:
            names = [name for name in (*graph.order, *graph.blocked) if name in graph.nodes]
        else:
            names = _executed(
                graph, tuple(final_vars), frozenset(inputs or ()), frozenset(overrides or ())
            )
        return {name: self._code_of(graph, name) for name in names}

    def get_data_version(
        self,
        run_id: str,
        node_name: str,
        cache_key: str | None = None,
        task_id: str | None = None,
    ) -> str | None:
        """The data version of ``node_name``'s result in run ``run_id`` (of item ``task_id``
        for a node in a block, e.g. ``"3"`` or ``"3/7"``; all its items' versions by task
        id when none is given); else, with ``cache_key``, the version stored under that key.
        ``None`` when neither is known.

        Example: ``dr.cache.get_data_version(dr.cache.last_run_id, "total")``.
        """
        state = self._runs.get(run_id)
        found = None
        if state is not None:
            found = _recorded_one(state.versions, state.item_versions, node_name, task_id)
        if found is None and cache_key is not None:
            found = self.store.index.get(cache_key) or self.metadata_store.get(cache_key)
        return found

    def get_cache_key(self, run_id: str, node_name: str, task_id: str | None = None) -> Any:
        """The key ``node_name``'s result (of item ``task_id`` in a block; by task id when
        none is given) was looked up or stored under in run ``run_id``; ``None`` when the run
        did not key it (a ``disable`` or ``ignore`` node, one that reads a ``disable`` node,
        an item past the first 10,000).

        Example: ``dr.cache.get_cache_key(dr.cache.last_run_id, "total")``.
        """
        state = self._runs.get(run_id)
        if state is None:
            return None
        return _recorded_one(state.keys, state.item_keys, node_name, task_id)

    def hits(self, run_id: str | None = None) -> collections.Counter[str]:
        """How many results of each node run ``run_id`` (default: the last) took from the cache."""
        return self._counts(run_id)[0]

    def misses(self, run_id: str | None = None) -> collections.Counter[str]:
        """How many times each node ran in run ``run_id`` (default: the last)."""
        return self._counts(run_id)[1]

    def _counts(
        self, run_id: str | None
    ) -> tuple[collections.Counter[str], collections.Counter[str]]:
        """(hits, runs) per node of run ``run_id``, from one reading of its events."""
        hits: collections.Counter[str] = collections.Counter()
        ran: collections.Counter[str] = collections.Counter()
        for e in self._events(run_id or self.last_run_id, "debug"):
            if e.event_type is CachingEventType.GET_RESULT:
                hits[e.node_name] += 1
            elif e.event_type is CachingEventType.EXECUTE_NODE:
                ran[e.node_name] += 1
        return hits, ran

    def version_data(self, result: Any, run_id: str | None = None) -> str:
        """The data version the cache gives ``result``."""
        return data_version(result)

    def version_code(self, node_name: str, run_id: str | None = None) -> str:
        """The code version of a node the cache has wrapped."""
        return self._code_by_name[node_name]

    def make_cache_key(self, node_name: str, dependencies_data_versions: Mapping[str, str]) -> str:
        """The key a call of ``node_name`` whose dependencies have these data versions is
        stored under (e.g. to look a result up in ``metadata_store`` without running)."""
        return create_cache_key(
            node_name, self._code_by_name[node_name], dependencies_data_versions
        )

    def view_run(
        self, run_id: str | None = None, output_file_path: str | os.PathLike[str] | None = None
    ) -> Drawing | str:
        """Draw run ``run_id`` (default: the last): the nodes it executed, each coloured by
        what the cache did: taken from the cache (green), run (orange), both for the items
        of a block (yellow, with the counts), not cached (grey: ``disable`` / ``ignore``).
        Blocks are clusters, as in ``dr.visualize_execution``. Returns a
        :class:`~asyncdag.viz.Drawing` (DOT text that shows inline in Jupyter); with
        ``output_file_path`` also writes it as :meth:`Driver.display_all_functions` does (a
        ``.mmd`` path: Mermaid text, returned as a ``str``).

        Example::

            dr.execute(["total"], inputs={"n": 10})
            dr.execute(["total"], inputs={"n": 10})
            dr.cache.view_run()                      # the last run: every node from the cache
            dr.cache.view_run(dr.cache.run_ids[0], "first_run.dot")  # the first: all run
        """
        run_id = run_id if run_id is not None else self.last_run_id
        request = self._request(run_id)
        graph = self._graph_of(run_id)
        hits, ran = self._counts(run_id)
        behaviors = self.resolve_behaviors(run_id)

        looks = {
            name: (
                (_NOT_CACHED, "not cached (a Frontier; its block is)")
                if graph.nodes[name].tags.get(FRONTIER_TAG)
                else _run_look(behavior, hits[name], ran[name])
            )
            for name, behavior in behaviors.items()
        }

        def style(*, node: Any, node_class: str) -> dict[str, str]:
            look = looks.get(node.name)
            if look is None:
                return {}
            shape = "filled" if node_class in ("expander", "collector") else "rounded,filled"
            return {"style": shape, "fillcolor": look[0], "tooltip": f"{node.name}: {look[1]}"}

        drawing: Drawing | str = viz.draw(
            graph,
            output_file_path,
            final_vars=list(request.final_vars),
            inputs=dict.fromkeys(request.inputs),
            overrides=dict.fromkeys(request.overrides),
            bypass_validation=True,
            custom_style_function=style,
            notes={name: look[1] for name, look in looks.items()},
        )
        return drawing

    def _request(self, run_id: str) -> _Request:
        request = self._requests.get(run_id)
        if request is None:
            raise KeyError(f"no run {run_id!r} in this cache's memory (only the last {KEEP_RUNS})")
        return request

    def _graph_of(self, run_id: str) -> Graph:
        graph = self._request(run_id).graph
        if graph is None:
            raise ValueError(
                "this cache is not bound to a driver's graph (a CacheAdapter made by hand):"
                " build the driver with Builder().with_cache(...)"
            )
        return graph

    def _run_nodes(self, run_id: str) -> list[str]:
        request = self._request(run_id)
        return _executed(
            self._graph_of(run_id), request.final_vars, request.inputs, request.overrides
        )

    def _code_of(self, graph: Graph, name: str) -> str:
        code = self._code_by_name.get(name)
        if code is None:
            node = graph.nodes[name]
            code = code_version(node.originating_function or node.callable)
        return code

    def flush(self, timeout: float | None = None) -> bool:
        """Wait (blocking) until every queued write is stored."""
        return self.store.flush(timeout)


def _recorded(flat: Mapping[str, str], items: Mapping[Any, Mapping[Any, Any]]) -> dict[str, Any]:
    """A run's record by node (versions or keys): ``flat`` outside blocks, ``items`` by task."""
    out: dict[str, Any] = dict(flat)
    for node in list(items):
        out[node] = _by_task(items[node])
    return out


def _recorded_one(
    flat: Mapping[str, str],
    items: Mapping[Any, Mapping[Any, Any]],
    node: str,
    task_id: str | None,
) -> Any:
    """One node's entry of :func:`_recorded` (one item's, with ``task_id``)."""
    if node in flat:
        return flat[node]
    found = items.get(node)
    if found is None:
        return None
    by_task = _by_task(found)
    return by_task if task_id is None else by_task.get(task_id)


def _by_task(found: Mapping[Any, Any]) -> dict[str | None, Any]:
    return {task_text(task): v for task, v in list(found.items()) if v is not None}


@dataclass(frozen=True)
class _Request:
    """What a run was asked: its graph, outputs, and the names given as inputs/overrides."""

    graph: Graph | None
    final_vars: tuple[str, ...]
    inputs: frozenset[str]
    overrides: frozenset[str]


def _executed(
    graph: Graph, final_vars: tuple[str, ...], inputs: frozenset[str], overrides: frozenset[str]
) -> list[str]:
    """The nodes a request executes, in the order they run (overridden ones are given)."""
    provided = frozenset(graph.config) | inputs | overrides
    plan = select(for_request(graph, final_vars, provided), final_vars, provided)
    return [name for name in plan.order if name not in overrides and name in graph.nodes]


#: fill colours of view_run: from the cache, run, both (items of a block), not cached
_FROM_CACHE, _RAN, _BOTH, _NOT_CACHED = "#c9ecc4", "#ffd2a6", "#fff2a8", "#e6e6e6"


def _run_look(behavior: CachingBehavior, hits: int, ran: int) -> tuple[str, str]:
    """A node's colour on ``view_run`` and the line saying what the cache did."""
    if behavior in (CachingBehavior.DISABLE, CachingBehavior.IGNORE):
        return _NOT_CACHED, f"not cached ({behavior.name.lower()})"
    if hits and ran:
        fill, note = _BOTH, f"{hits:,} from cache, {ran:,} run"
    elif hits:
        fill, note = _FROM_CACHE, "from cache" if hits == 1 else f"{hits:,} from cache"
    elif ran:
        fill, note = _RAN, "run" if ran == 1 else f"{ran:,} run"
    else:
        fill, note = _NOT_CACHED, "not run"
    if behavior is CachingBehavior.RECOMPUTE:
        note += " (recompute)"
    return fill, note


def _names(selection: NodeSelection) -> NodeSelection:
    if selection is None or selection is True:
        return selection
    return frozenset(selection)


def _log_op(path: Path, lines: str) -> WriteOp:
    return WriteOp("log", (path, lines))
