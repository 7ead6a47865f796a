"""What the cache records about a run: structured events, kept per run, and its logger.

Events are recorded as small tuples while the run goes (one per node call at the ``info``
level, a few more at ``debug``) and become :class:`CachingEvent` objects only when asked
for, so that a run of a hundred thousand items does not pay for objects nobody reads.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal

__all__ = [
    "INFO_EVENTS",
    "CachingEvent",
    "CachingEventType",
    "RunLog",
    "Task",
    "logger",
    "task_text",
]

#: The ``asyncdag.caching`` logger: ``INFO`` shows each hit and each executed node, ``DEBUG``
#: also keys and data versions; warnings (a broken store, a value that cannot be stored) are
#: always emitted.
logger = logging.getLogger("asyncdag.caching")


class CachingEventType(enum.Enum):
    """What happened (Hamilton's names and values)."""

    GET_DATA_VERSION = "get_data_version"
    SET_DATA_VERSION = "set_data_version"
    GET_CACHE_KEY = "get_cache_key"
    SET_CACHE_KEY = "set_cache_key"
    GET_RESULT = "get_result"
    SET_RESULT = "set_result"
    MISSING_RESULT = "missing_result"
    FAILED_RETRIEVAL = "failed_retrieval"
    EXECUTE_NODE = "execute_node"
    FAILED_EXECUTION = "failed_execution"
    RESOLVE_BEHAVIOR = "resolve_behavior"
    UNHASHABLE_DATA_VERSION = "unhashable_data_version"
    IS_OVERRIDE = "is_override"
    IS_INPUT = "is_input"
    IS_FINAL_VAR = "is_final_var"
    IS_DEFAULT_PARAMETER_VALUE = "is_default_parameter_value"
    FAILED_STORAGE = "failed_storage"


#: The events ``logs(level="info")`` returns: a result taken from the cache, a node run.
INFO_EVENTS = frozenset({CachingEventType.GET_RESULT, CachingEventType.EXECUTE_NODE})

Actor = Literal["adapter", "metadata_store", "result_store"]


@dataclasses.dataclass(frozen=True)
class CachingEvent:
    """One thing the cache did for one node call.

    ``task_id`` is the item's index path (``"3"``, ``"3/7"`` when nested) for nodes inside a
    Parallelizable block, when the engine says which item is running; ``None`` outside blocks.
    """

    run_id: str
    actor: Actor
    event_type: CachingEventType
    node_name: str
    task_id: str | None = None
    msg: str | None = None
    value: Any | None = None
    timestamp: float = dataclasses.field(default_factory=time.time)

    def __str__(self) -> str:
        """``node::task::actor::event::message``, empty parts left out (Hamilton's format)."""
        parts = [self.node_name]
        if self.task_id is not None:
            parts.append(self.task_id)
        parts += [self.actor, self.event_type.value]
        if self.msg:
            parts.append(self.msg)
        return "::".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "timestamp": self.timestamp,
            "node_name": self.node_name,
            "task_id": self.task_id,
            "actor": self.actor,
            "event_type": self.event_type.value,
            "msg": self.msg,
            "value": str(self.value) if self.value is not None else None,
        }


#: An item as the log records it: its index path, spelled (``"3/7"``) only when read.
Task = str | tuple[int, ...]


def task_text(task: Task | None) -> str | None:
    """``(3, 7)`` -> ``"3/7"`` (a text is kept as it is)."""
    if task is None or type(task) is str:
        return task
    return "/".join(map(str, task))


# An event is seven fields, (node, task, actor, type's value, msg, value, timestamp), kept
# one after the other in a flat list: a run of a hundred thousand items records as many
# events, and a tuple per event, kept, is an object the garbage collector counts (they made
# its collections more frequent, and each one slower) where a flat list is one. Each
# ``_CHUNK`` fields, the list's head is sealed into a tuple: a full collection walks every
# element of a list each time, while a tuple of strings, numbers and small tuples is taken
# off the collector's books at its first collection (a 700,000-field list walked by every
# full collection of a run had cost its items 2 µs each).
_FIELDS = 7
_CHUNK = 4096 * _FIELDS
_Raw = list[Any]
_TYPES = {t.value: t for t in CachingEventType}


#: The first field of an :meth:`RunLog.add_many` entry's task: ``(_ITEMS, parent, indices,
#: values)``, events for the items ``parent + (i,)`` of ``indices``, each with its value of
#: ``values`` (``None``: the entry's own). A plain tuple of strings and numbers, which the
#: garbage collector takes off its books, as it does the chunks that hold it.
_ITEMS = "asyncdag:items"


class RunLog:
    """The events of one run. ``add`` may be called from any thread of the run.

    Bounded: past ``limit`` events, further ones are only counted (``dropped``).
    """

    def __init__(self, run_id: str, *, debug: bool, limit: int = 200_000) -> None:
        self.run_id = run_id
        self.debug = debug
        self.limit = limit
        self._cap = limit * _FIELDS
        self.dropped = 0
        self._events: _Raw = []  # the fields not sealed yet, _FIELDS per event
        self._sealed: list[tuple[Any, ...]] = []  # the fields before them, in chunks
        self._sealed_len = 0
        self._room = min(_CHUNK, self._cap)  # fields the open list may hold before a roll
        self._lock = threading.Lock()
        # whether the logger shows anything, decided once: checking per event cost more
        # than recording it
        self.emit = logger.isEnabledFor(logging.INFO)
        self.relayed = 0  # fields up to here were sent to the driver's process
        #: the fields the events of ``add_many``'s entries would take, less the entries'
        self._extra = 0
        #: what records events kept for later, kept on the thread ``owner`` (the run's loop):
        #: called before the next event is added there
        self.waiting: list[Callable[[], None]] = []
        self.owner = threading.get_ident()

    def __len__(self) -> int:
        """Fields recorded (``_FIELDS`` per event)."""
        return self._sealed_len + len(self._events) + self._extra

    @property
    def pending(self) -> bool:
        """Whether events were recorded since the last :meth:`take_new`."""
        return self._sealed_len + len(self._events) > self.relayed

    def _roll(self) -> bool:
        """Seal the open list's fields; whether there is room for another event."""
        with self._lock:
            events = self._events
            n = len(events)
            if n >= self._room:  # (another thread may have rolled meanwhile)
                # only whole events: a thread of the run may be extending meanwhile, and
                # appends land after the first ``n``, which alone are taken
                n -= n % _FIELDS
                if n:
                    self._sealed.append(tuple(events[:n]))
                    del events[:n]
                    self._sealed_len += n
                self._room = min(_CHUNK, self._cap - self._sealed_len - self._extra)
            return len(events) < self._room

    def _all(self) -> _Raw:
        with self._lock:
            raw: _Raw = []
            for chunk in self._sealed:
                raw.extend(chunk)
            raw.extend(self._events)
        return raw

    def take_new(self) -> list[_Raw]:
        """The events not relayed yet (a worker process sends them to the driver's)."""
        with self._lock:
            start = self.relayed
            sealed, end = self._sealed_len, len(self._events)  # (threads may add meanwhile)
            if start >= sealed:
                self.relayed = sealed + end
                return self._events[start - sealed : end]
        raw = self._all()
        self.relayed = len(raw)
        return raw[start:]

    def extend_raw(self, raw: _Raw) -> None:
        """Events relayed from worker processes."""
        for i in range(0, len(raw), _CHUNK):
            part = raw[i : i + _CHUNK]
            with self._lock:
                self._events.extend(part)
            if len(self._events) >= self._room:
                self._roll()

    def add(
        self,
        node: str,
        task_id: Task | None,
        actor: str,
        kind: CachingEventType,
        msg: str | None = None,
        value: Any = None,
    ) -> None:
        if self.waiting:
            self._record_waiting()
        events = self._events
        if len(events) >= self._room:
            if not self._roll():
                self.dropped += 1
                return
            events = self._events
        # one extend: an event's fields stay together when threads of the run add at once
        events.extend((node, task_id, actor, kind._value_, msg, value, time.time()))
        if self.emit and (kind in INFO_EVENTS or self.debug):
            logger.log(
                logging.INFO if kind in INFO_EVENTS else logging.DEBUG,
                "%s",
                CachingEvent(self.run_id, actor, kind, node, task_text(task_id), msg, value),  # type: ignore[arg-type]
            )

    def _record_waiting(self) -> None:
        """Events kept for batches of items (``waiting``) are recorded before any other:
        the log keeps the order things happened in (on the thread that keeps them)."""
        if threading.get_ident() != self.owner:
            return
        waiting, self.waiting = self.waiting, []
        for record in waiting:
            record()

    def add_many(
        self,
        node: str,
        parent: tuple[int, ...] | None,
        indices: list[Any],
        actor: str,
        kind: CachingEventType,
        msg: str | None = None,
        values: list[Any] | None = None,
    ) -> None:
        """One event of ``kind`` for each item ``parent + (i,)`` of ``indices`` (``parent``
        ``None``: ``indices`` are the items' whole index paths), with its value of ``values``,
        stamped with one time: many items recorded at once. They are kept as one
        entry (see ``_ITEMS``) and spelled out when the events are read."""
        n = len(indices)
        if self.emit:  # each event goes to the logger too: one at a time
            for j, i in enumerate(indices):
                task = i if parent is None else (*parent, i)
                self.add(node, task, actor, kind, msg, values[j] if values else None)
            return
        fit = (self._cap - len(self)) // _FIELDS
        if fit < n:
            self.dropped += n - max(fit, 0)
            if fit <= 0:
                return
            indices = indices[:fit]
            values = values[:fit] if values is not None else None
            n = fit
        before = self.dropped
        entry = (_ITEMS, parent, tuple(indices), tuple(values) if values is not None else None)
        self.add(node, entry, actor, kind, msg)  # type: ignore[arg-type]
        if self.dropped == before:
            extra = (n - 1) * _FIELDS
            self._extra += extra
            self._room -= extra  # (the open list's share of the bound: see _roll)
        else:
            self.dropped += n - 1

    def events(self, level: Literal["debug", "info"] = "info") -> Iterator[CachingEvent]:
        raw = self._all()
        types = _TYPES
        fields = [iter(raw)] * _FIELDS
        for node, task, actor, code, msg, value, ts in zip(*fields, strict=True):
            kind = types[code] if type(code) is str else code
            if level == "info" and kind not in INFO_EVENTS:
                continue
            if type(task) is tuple and task and task[0] == _ITEMS:
                _, parent, indices, values = task
                for j, i in enumerate(indices):
                    one = values[j] if values is not None else value
                    text = task_text(i if parent is None else (*parent, i))
                    yield CachingEvent(self.run_id, actor, kind, node, text, msg, one, ts)
                continue
            yield CachingEvent(self.run_id, actor, kind, node, task_text(task), msg, value, ts)
