"""What the cache knows about one run while it goes, wherever its nodes run.

The adapter makes a :class:`RunState` when a run starts (in the driver's process) and drops
it when the run ends; node wrappers find it through :func:`asyncdag._calls.current_run`,
which follows the run onto the loop's tasks and the executors' threads. In a worker process
the driver's state is not there: a wrapper gets a *detached* state for the run (its events
are not reported to the driver) or none at all when the run is not known there.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Any

from asyncdag._calls import current_call, current_run
from asyncdag.caching._events import RunLog, Task, logger, task_text
from asyncdag.caching._fingerprint import _FAST, data_version

__all__ = ["RunState", "call_index", "forget_run", "runs_of", "state_for", "task_id"]

#: Objects whose versions a run remembers by identity (the rest are versioned again).
IDENTITY_LIMIT = 4096
#: Of those, values that take no weak reference (lists, dicts), which the run then holds.
HELD_LIMIT = 256
#: Item versions of a node a run keeps for ``dr.cache.data_versions`` (memory stays bounded).
ITEM_VERSIONS = 10_000
#: Warnings a run shows per node before it only counts them.
WARNINGS_PER_NODE = 10


class RunState:
    """One run: its log, the versions of values it produced, the warnings it gave."""

    def __init__(self, run_id: str, log: RunLog | None) -> None:
        self.run_id = run_id
        self.log = log
        self.debug = log.debug if log is not None else False  # record debug-level events
        self._ids: OrderedDict[int, tuple[weakref.ref[Any], str]] = OrderedDict()
        self._held: OrderedDict[int, tuple[Any, str]] = OrderedDict()
        self.versions: dict[str, str] = {}  # node outside blocks -> data version
        self.keys: dict[str, str] = {}  # node outside blocks -> cache key
        # node in a block -> (task -> data version, task -> cache key or None)
        self._items: dict[str, tuple[dict[Task, str], dict[Task, str | None]]] = {}
        self.wrote = False
        self.detached = False  # a worker process's copy: its events are relayed
        self._warned: dict[str, int] = {}
        self._lock = threading.Lock()
        #: the thread of the run's loop (where the run started), and what records each
        #: node's items kept there in batches (``None``: none of that node's may be)
        self.thread = threading.get_ident()
        self.batches: dict[str, Any] = {}

    def version_of(self, value: Any) -> str:
        """The data version of a dependency's value: remembered by identity when this run
        produced or versioned it before, else computed (and remembered)."""
        fast = _FAST.get(type(value))
        if fast is not None:
            return fast(value)
        found = self._ids.get(id(value))
        if found is not None and found[0]() is value:
            return found[1]
        held = self._held.get(id(value))
        if held is not None and held[0] is value:
            return held[1]
        version = data_version(value)
        self.remember(value, version)
        return version

    def remember(self, value: Any, version: str) -> None:
        """Remember ``value``'s version by identity, without keeping a large value alive: a
        weak reference when the type allows one (frames, arrays, objects), else the value
        itself, for the last ``HELD_LIMIT`` such values only (lists, dicts, tuples)."""
        if type(value) in _FAST:
            return
        try:
            ref = weakref.ref(value)
        except TypeError:
            held = self._held
            held[id(value)] = (value, version)  # the reference keeps the id from being reused
            if len(held) > HELD_LIMIT:
                try:
                    held.popitem(last=False)
                except KeyError:  # another thread emptied it first
                    pass
            return
        ids = self._ids
        ids[id(value)] = (ref, version)  # a dead reference never matches a new object
        if len(ids) > IDENTITY_LIMIT:
            try:
                ids.popitem(last=False)
            except KeyError:
                pass

    def item_version(self, node: str, version: str, task: Task | None, key: str | None) -> None:
        """The version of an item's value of ``node`` and the key it is stored under (the
        first ITEM_VERSIONS items per node; ``None`` for a key not known)."""
        if task is None:
            return
        found = self._items.get(node)
        if found is None:
            found = self._items[node] = ({}, {})
        versions, keys = found
        if len(versions) < ITEM_VERSIONS:
            versions[task] = version
            keys[task] = key

    def record_batches(self) -> None:
        """Record what the batches hold (the run is over; on its loop's thread)."""
        for batch in list(self.batches.values()):
            if batch is not None:
                batch.record()

    def item_versions_of(
        self,
        node: str,
        parent: tuple[int, ...] | None,
        indices: list[Any],
        versions: list[str],
        keys: list[str],
    ) -> None:
        """:meth:`item_version` for the items ``parent + (i,)`` of ``indices`` at once
        (``parent`` ``None``: ``indices`` are the items' whole index paths)."""
        found = self._items.get(node)
        if found is None:
            found = self._items[node] = ({}, {})
        have_versions, have_keys = found
        room = ITEM_VERSIONS - len(have_versions)
        if room <= 0:
            return
        if room < len(indices):
            indices, versions, keys = indices[:room], versions[:room], keys[:room]
        tasks: list[Task]
        if parent is None:
            tasks = indices
        else:
            singles = zip(indices)  # (i,) for each item
            tasks = list(map(parent.__add__, singles)) if parent else list(singles)
        have_versions.update(zip(tasks, versions, strict=True))
        have_keys.update(zip(tasks, keys, strict=True))

    @property
    def item_versions(self) -> dict[str, dict[Task, str]]:
        """Node in a block -> task -> data version (the first ITEM_VERSIONS items)."""
        return {node: found[0] for node, found in list(self._items.items())}

    @property
    def item_keys(self) -> dict[str, dict[Task, str | None]]:
        """Node in a block -> task -> cache key (``None``: not known)."""
        return {node: found[1] for node, found in list(self._items.items())}

    def node_version(self, node: str, version: str, key: str | None) -> None:
        """The version of the value of ``node`` outside blocks, and its key."""
        self.versions[node] = version
        if key is not None:
            self.keys[node] = key

    def warn(self, node: str, task: str | None, message: str) -> None:
        """A warning naming the node (and the item), at most a few per node and run."""
        with self._lock:
            count = self._warned[node] = self._warned.get(node, 0) + 1
        if count > WARNINGS_PER_NODE:
            return
        where = f"node {node!r}" + (f" (item {task})" if task is not None else "")
        more = (
            f" (further cache warnings for {node!r} in this run are not shown)"
            if count == WARNINGS_PER_NODE
            else ""
        )
        logger.warning("asyncdag cache, %s: %s%s", where, message, more)


_states: dict[int, dict[str, RunState]] = {}  # adapter uid -> run id -> state
_detached: OrderedDict[str, RunState] = OrderedDict()
_detached_lock = threading.Lock()


def runs_of(uid: int) -> dict[str, RunState]:
    """The running runs of adapter ``uid`` by run id (a node's wrapper holds this dict, so
    finding its run's state costs one lookup)."""
    found = _states.get(uid)
    if found is None:
        found = _states.setdefault(uid, {})
    return found


def register(uid: int, state: RunState) -> None:
    runs_of(uid)[state.run_id] = state


def forget_run(uid: int, run_id: str) -> RunState | None:
    return runs_of(uid).pop(run_id, None)


def state_for(uid: int) -> RunState | None:
    """The state of the run the calling code belongs to, for the adapter ``uid``."""
    run = current_run()
    if run is None:
        return None
    found = runs_of(uid).get(run.run_id)
    if found is not None:
        return found
    with _detached_lock:  # a worker process: the driver's state is elsewhere
        state = _detached.get(run.run_id)
        if state is None:
            # a log of its own, relayed to the driver's process through the cache database
            state = _detached[run.run_id] = RunState(run.run_id, RunLog(run.run_id, debug=False))
            state.detached = True
            while len(_detached) > 8:
                _detached.popitem(last=False)
        return state


def call_index() -> tuple[int, ...] | None:
    """The item's index path, when the engine says which item runs (what the run's log and
    item versions record; :func:`task_text` spells it when someone reads them)."""
    call = current_call()
    if call is None or not call.index:
        return None
    return call.index


def task_id() -> str | None:
    """The item's index path as ``"3"`` / ``"3/7"``, when the engine says which item runs."""
    return task_text(call_index())


def anonymous_warning(node: str, message: str) -> None:
    """A warning when no run state is known (a worker process before the run is relayed)."""
    logger.warning("asyncdag cache, node %r: %s", node, message)
