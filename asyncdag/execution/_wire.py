"""Every payload to a worker and every answer from one, both directions, in one place.

A worker (a process of ``MultiProcessingExecutor``, a Dask or Ray worker) receives bytes made
here and answers bytes decoded here; nothing else pickles engine data. What crosses:

- to the worker: a *batch* — the block's plan (pickled once per block, cached by key on both
  sides), the outer values the block reads, and each item's ``(index, values)``; or a *call*
  of one sync function with its keyword arguments;
- back: per item, its outcome — the values its collectors need, or the failure — plus the
  records of its node calls when hooks listen, and the batch's time in the worker.

Errors cross as records: the exception's qualified type name, message and traceback text, and
its pickle when it has one. The parent rebuilds the exception object when it can; when it
cannot (a class whose ``__init__`` needs arguments its ``args`` do not hold, a class that does
not unpickle here), the node's failure is a ``RemoteError`` carrying the name, message and
traceback text. A value that cannot be pickled in the worker, or not unpickled in the parent,
is a ``SerializationError`` naming the node and the item. Nothing is lost as a raw
``TypeError`` and nothing reads as a dead worker when no worker died.
"""

from __future__ import annotations

import contextlib
import pickle
import sys
import traceback
import uuid
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import cloudpickle

from asyncdag.errors import ExecutorError, NodeExecutionError, RemoteError, SerializationError
from asyncdag.execution._outcome import Done, Ended, Outcome, Raised, failed
from asyncdag.execution._plan import BlockPlan
from asyncdag.policies import FAIL

__all__ = [
    "MANY",
    "STOP",
    "Batch",
    "ErrorRecord",
    "crash",
    "decode_answer",
    "decode_batch",
    "decode_call",
    "decode_call_answer",
    "encode_answer",
    "encode_batch",
    "encode_call",
    "encode_call_answer",
    "error_record",
    "load_failure",
    "plan_payload",
    "rebuild",
]

#: tells a worker process to stop
STOP = b"\0stop"
#: the kind of a pipe message that carries several ``(kind, job_id, body)`` messages, sent in
#: one write (each write wakes the other side's reader thread)
MANY = "many"

#: (type's qualified name, message, traceback text, the exception's pickle or None)
ErrorRecord = tuple[str, str, str, bytes | None]


def _dumps(value: Any) -> bytes:
    """pickle (C, fast) first; cloudpickle for what plain pickle cannot (lambdas, closures)."""
    try:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        return cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)  # type: ignore[no-any-return]


# -- errors ----------------------------------------------------------------------------------


def error_record(exc: BaseException, *, ended: bool = False) -> ErrorRecord:
    """``exc`` as it crosses. ``ended``: an item failure its own error policy ends (deliver,
    skip), which a crawl may see for one item in ten: its traceback text (the dearest part,
    ~100 us) is written only when the exception's pickle does not load back here, so that a
    parent that cannot rebuild it has something to show; one that round-trips travels as its
    pickle, type name and message."""
    cls = type(exc)
    name = f"{cls.__module__}.{cls.__qualname__}"
    try:
        message = str(exc)
    except Exception:
        message = repr(exc)
    try:
        data: bytes | None = _dumps(exc)
    except Exception:
        data = None
    if ended and data is not None and rebuild((name, message, "", data)) is not None:
        return (name, message, "", data)
    text = "".join(traceback.format_exception(cls, exc, exc.__traceback__))
    return (name, message, text, data)


def rebuild(record: ErrorRecord) -> BaseException | None:
    """The exception object again, or ``None`` when it cannot be rebuilt here."""
    data = record[3]
    if data is None:
        return None
    try:
        exc = pickle.loads(data)
    except Exception:
        return None
    return exc if isinstance(exc, BaseException) else None


def _remote_error(
    node: str, index: tuple[int, ...], label: str | None, record: ErrorRecord
) -> RemoteError:
    name, message, text, _ = record
    err = RemoteError(
        node,
        index,
        f"{name}: {message} (raised in a worker; it could not be rebuilt here)",
        label,
    )
    err.type_name, err.remote_message, err.remote_traceback = name, message, text
    return err


def _node_outcome(
    node: str, policy: str, index: tuple[int, ...], label: str | None, record: ErrorRecord
) -> Ended | Raised:
    exc = rebuild(record)
    if exc is None:
        exc = _remote_error(node, index, label, record)
    return failed(node, policy, index, label, exc)


# -- plans -----------------------------------------------------------------------------------

_PLAN_CACHE: weakref.WeakKeyDictionary[BlockPlan, tuple[str, bytes]] = weakref.WeakKeyDictionary()


def plan_payload(block: BlockPlan) -> tuple[str, bytes]:
    """The block's plan as bytes, pickled once per block; the key lets workers cache it."""
    found = _PLAN_CACHE.get(block)
    if found is None:
        _ship_unimportable_modules_by_value(block)
        try:
            data = cloudpickle.dumps(block)
        except Exception as exc:
            names = [s.name for s in block.steps]
            raise SerializationError(
                f"the functions of the block of {block.expander!r} ({names}) cannot be"
                f" serialized for a worker process: {exc}. Avoid capturing unpicklable objects"
                " in closures or default arguments; build such objects inside a node instead.",
            ) from exc
        found = _PLAN_CACHE[block] = (uuid.uuid4().hex, data)
    return found


def _ship_unimportable_modules_by_value(block: BlockPlan) -> None:
    """Modules made in memory (no file) cannot be imported by a worker: send their code."""
    todo = [block]
    while todo:
        b = todo.pop()
        for step in b.steps:
            child = getattr(step, "child", None)
            if child is not None:
                todo.append(child)
            node = getattr(step, "node", None)
            fn = node.callable if node is not None else None
            module = sys.modules.get(getattr(fn, "__module__", "") or "")
            if (
                module is not None
                and module.__name__ != "__main__"
                and getattr(module, "__file__", None) is None
                and getattr(module, "__spec__", None) is None
            ):
                with contextlib.suppress(Exception):
                    cloudpickle.register_pickle_by_value(module)


# -- batches: parent -> worker ---------------------------------------------------------------


class Batch:
    """A batch as the worker sees it."""

    __slots__ = ("externals", "items", "records", "run_id", "stream", "with_inputs")

    def __init__(
        self,
        externals: dict[tuple[int, str], Any],
        items: list[tuple[tuple[int, ...], dict[str, Any]]],
        run_id: str,
        records: bool,
        with_inputs: bool,
        stream: bool,
    ) -> None:
        self.externals = externals
        self.items = items
        self.run_id = run_id
        self.records = records  # record node events for the parent's hooks
        self.with_inputs = with_inputs  # ... with each node's arguments
        self.stream = stream  # return the values of nested outputs, for astream


def encode_batch(
    block: BlockPlan,
    externals: dict[tuple[int, str], Any],
    items: list[tuple[tuple[int, ...], dict[str, Any]]],
    *,
    run_id: str,
    records: bool,
    with_inputs: bool,
    stream: bool,
) -> bytes:
    """The items of one expansion, with the outer values their block reads, as bytes."""
    body = (externals, items, run_id, records, with_inputs, stream)
    try:
        return cloudpickle.dumps(body)  # type: ignore[no-any-return]
    except Exception:
        pass
    candidates: list[tuple[str, str, Any, tuple[int, ...]]] = [
        ("value", key, value, ()) for (_, key), value in externals.items()
    ]
    for index, values in items:
        candidates += [("item", key, value, index) for key, value in values.items()]
    for what, key, value, index in candidates:
        try:
            cloudpickle.dumps(value)
        except Exception as exc:
            where = f" for item {index}" if index else ""
            raise SerializationError(
                f"the {what} of node {key!r} (type {type(value).__module__}."
                f"{type(value).__qualname__}) cannot be pickled to reach a worker process"
                f"{where} of {block.expander!r}: {exc}. Build it inside the block, or declare"
                " it as a per-worker resource (asyncdag.resources.per_worker) so that each"
                " worker builds its own.",
                node=key,
            ) from exc
    raise SerializationError(f"the items of {block.expander!r} cannot be pickled")


def decode_batch(data: bytes) -> Batch:
    """In the worker. Raises what unpickling raises (see :func:`load_failure`)."""
    return Batch(*cloudpickle.loads(data))


def crash(exc: BaseException) -> bytes:
    """In the worker: the answer when something failed outside any node (an engine bug)."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return _dumps(("crash", f"{type(exc).__name__}: {exc}\n{text}"))


def load_failure(exc: BaseException) -> bytes:
    """In the worker: the answer for a payload it could not load."""
    return _dumps(("load", f"{type(exc).__name__}: {exc}"))


# -- answers: worker -> parent ---------------------------------------------------------------


def _item_answer(
    outcome: Outcome, values: dict[str, Any], keys: Iterable[str], index: tuple[int, ...]
) -> bytes:
    if isinstance(outcome, Done):
        # each value on its own: the one that does not pickle here (or unpickle in the
        # parent) is named, with its node and item
        out: dict[str, bytes] = {}
        for k in keys:
            value = values[k]
            try:
                out[k] = _dumps(value)
            except Exception as exc:
                return _dumps(
                    (
                        "unpicklable",
                        k,
                        index,
                        f"{type(value).__module__}.{type(value).__qualname__}",
                        f"{type(exc).__name__}: {exc}",
                    )
                )
        return _dumps(("done", out))
    if isinstance(outcome, Ended):
        f = outcome.failure
        record = error_record(f.error, ended=True)
        return _dumps(("failed", f.node, f.policy, f.index, f.label, record))
    err = outcome.error
    if isinstance(err, NodeExecutionError):
        cause = err.__cause__ if err.__cause__ is not None else err
        return _dumps(("failed", err.node, FAIL, err.index, err.label, error_record(cause)))
    return _dumps(("error", error_record(err)))


def encode_answer(
    outcomes: list[tuple[Outcome, dict[str, Any], tuple[int, ...]]],
    keys: Iterable[str],
    records: list[Any],
    elapsed: float,
    events: list[tuple[str, tuple[int, ...], Any]] | None = None,
    positions: list[int] | None = None,
) -> bytes:
    """In the worker: each item's outcome (with the values ``keys`` name), the node records,
    the batch's time, and the values of nested outputs (for astream). ``positions``: which
    items of the batch these are (a part of a streamed answer); default: all, in order."""
    keys = tuple(keys)
    items = [_item_answer(o, values, keys, index) for o, values, index in outcomes]
    try:
        recs = _dumps(records)
    except Exception:
        recs = _dumps([_portable_record(r) for r in records])
    try:
        nested = _dumps(events or [])
    except Exception:
        nested = _dumps([(n, i, repr(v)) for n, i, v in events or []])
    if positions is None:
        positions = list(range(len(items)))
    return _dumps(("ok", items, recs, elapsed, nested, positions))


def _portable_record(record: Any) -> Any:
    """A copy of a ``NodeRecord`` whose value and kwargs are sure to pickle."""
    state = list(record.__getstate__())
    slots = type(record).__slots__
    ok = record.ok
    for name in ("value", "kwargs"):
        at = slots.index(name)
        try:
            _dumps(state[at])
        except Exception:
            value = state[at]
            if name == "kwargs":
                state[at] = None
            elif ok:
                state[at] = repr(value)
            else:
                state[at] = error_record(value)
    copy = object.__new__(type(record))
    copy.__setstate__(tuple(state))
    return copy


def decode_answer(
    data: bytes, label_of: Callable[[int], str | None]
) -> tuple[list[int], list[Outcome], list[Any], float, list[tuple[str, tuple[int, ...], Any]]]:
    """In the parent: the positions (in the batch) of the items answered, each one's outcome
    (``Done`` holds the values to add to the instance), the node records, the batch's time
    and the nested outputs' values; raises the batch's own failure. ``label_of(position)``
    names an item in errors."""
    status, *body = pickle.loads(data)
    if status == "load":
        raise SerializationError(
            f"a worker process could not load the task: {body[0]}. The modules that define your"
            " nodes must be importable in the worker (on sys.path, not created in memory), or"
            " be the main script."
        )
    if status == "crash":
        raise ExecutorError(f"the worker failed outside any node: {body[0]}")
    items, recs, elapsed, nested, positions = body
    outcomes = [_decode_item(raw, label_of(p)) for raw, p in zip(items, positions, strict=True)]
    try:
        records = pickle.loads(recs)
    except Exception:
        records = []
    try:
        events = pickle.loads(nested)
    except Exception:
        events = []
    return positions, outcomes, records, elapsed, events


def _decode_item(raw: bytes, label: str | None) -> Outcome:
    answer = pickle.loads(raw)  # the envelope holds only builtins and bytes
    kind = answer[0]
    if kind == "done":
        values: dict[str, Any] = {}
        for key, data in answer[1].items():
            try:
                values[key] = pickle.loads(data)
            except Exception as exc:
                return Raised(
                    SerializationError(
                        f"the value of node {key!r} for item {label or ''} was computed in a"
                        f" worker process but cannot be unpickled here: {type(exc).__name__}:"
                        f" {exc}. Return values of types this process can import and rebuild.",
                        node=key,
                    )
                )
        return Done(values)
    if kind == "failed":
        _, node, policy, index, item_label, record = answer
        return _node_outcome(node, policy, tuple(index), item_label, record)
    if kind == "unpicklable":
        _, node, index, type_name, why = answer
        err = SerializationError(
            f"the value of node {node!r} at item {tuple(index)} {label or ''} (type"
            f" {type_name}) cannot be pickled to come back from the worker process: {why}."
            " Return plain data from nodes that run on processes, or collect inside the block.",
            node=node,
        )
        return Raised(err)
    record = answer[1]
    rebuilt = rebuild(record)
    return Raised(rebuilt if rebuilt is not None else RuntimeError(f"{record[0]}: {record[1]}"))


# -- calls: one sync function ----------------------------------------------------------------


def encode_call(name: str, fn: Any, kwargs: dict[str, Any]) -> bytes:
    try:
        return cloudpickle.dumps((name, fn, kwargs))  # type: ignore[no-any-return]
    except Exception as exc:
        raise SerializationError(
            f"the arguments of node {name!r} cannot be pickled to reach a worker process:"
            f" {exc}. Use a thread executor as the local executor, or a per-worker resource.",
            node=name,
        ) from exc


def decode_call(data: bytes) -> tuple[str, Any, dict[str, Any]]:
    name, fn, kwargs = cloudpickle.loads(data)
    return name, fn, kwargs


def encode_call_answer(name: str, ok: bool, value: Any) -> bytes:
    if ok:
        try:
            return _dumps(("ok", name, _dumps(value)))
        except Exception as exc:
            return _dumps(
                (
                    "unpicklable",
                    name,
                    (),
                    f"{type(value).__module__}.{type(value).__qualname__}",
                    f"{type(exc).__name__}: {exc}",
                )
            )
    return _dumps(("failed", name, FAIL, (), None, error_record(value)))


def decode_call_answer(data: bytes) -> Outcome:
    answer = pickle.loads(data)
    if answer[0] == "ok":
        return _call_value(answer[1], answer[2])
    if answer[0] == "load":
        raise SerializationError(
            f"a worker process could not load the call: {answer[1]}. The modules that define"
            " your nodes must be importable in the worker, or be the main script."
        )
    return _decode_item(data, None)


def _call_value(name: str, data: bytes) -> Outcome:
    outcome = _decode_item(_dumps(("done", {name: data})), None)
    return Done(outcome.value[name]) if isinstance(outcome, Done) else outcome
