"""Random nested dataflows for the property tests: the specs, their generator, the source of
the module that implements them, and a plain sequential reference evaluator.

A generated dataflow is a tree of scopes. Each scope holds, in order, standard nodes, expanders
(which open a child scope holding their block) and collectors (which collect nodes of a child
scope as a list, a stream in yield order or a stream in completion order). Every node computes
an integer from its inputs; functions are randomly sync or async; expanders are sync or async
generators, lists, async iterables or plain iterators. Nodes inside blocks may carry an
``on_error("skip")`` / ``on_error("deliver")`` policy.

The reference evaluator walks the spec directly (it never calls the generated functions): for
each expander it iterates the items, evaluates the block once per item, and collects lists.
It evaluates only the nodes the requested outputs need, as the engine does.

Faults. Every generated function reports to a module-level table, ``FAULTS``, which a test
fills before a run and which travels with the functions to worker processes by value (the
module is made in memory, so cloudpickle ships its code and the globals it reads):

- ``FAULTS["calls"]``: ``{(node, index path): kind}`` — that call raises (for generators:
  ``FAULTS["after"]``, ``{(node, index path): (k, kind)}`` — raise after yielding k items);
- ``FAULTS["tick"]``: called with the node's name at every node call (the parent process
  only: see :class:`ParentOnly`), to cancel a run after the n-th call;
- ``FAULTS["sink"]``: receives generator events ``("open" | "close", node, index path)`` and
  ``("anomaly", node, what)`` in the parent; in a worker process the events are appended to
  the file ``FAULTS["log"]`` instead, one ``repr((pid, *event))`` a line.

A node finds its index path with the engine's ``current_call()``; when that is missing or names
another node it reports an anomaly. The injected exception names its node and index path
(``.node``, ``.index``); its kind is ``"plain"`` (``Injected``), ``"timeout"``
(``InjectedTimeout``, also a ``TimeoutError``), ``"cancelled"`` (``asyncio.CancelledError``
raised by the node itself) or ``"die"`` (in a worker process, the process SIGKILLs itself:
``FAULTS["parent"]`` is the pid of the process that must not). The reference evaluator takes
the same table (:class:`Faults`) and says what the run must give: a value per output, where
items ended by an error policy are left out (skip) or delivered as a :class:`Marker`
(deliver), or the one failure that fails the run; it also records the value of every in-block
call (``values``) and the items that ended (``ended``), for ``astream``'s events and the
task hooks.
"""

from __future__ import annotations

import itertools
import types
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from asyncdag.htypes import ItemFailure

MOD = 1009
EXPAND_STYLES = ("gen", "agen", "list", "aiter", "iter")
GENERATOR_STYLES = ("gen", "agen")
COLLECT_MODES = ("list", "stream", "completed")
POLICIES = ("fail", "skip", "deliver")
FAULT_KINDS = ("plain", "timeout", "cancelled")


@dataclass
class Spec:
    """One node. ``collects`` pairs a collected node with a mode; ``body`` is an expander's
    block; ``policy`` its ``on_error`` policy."""

    name: str
    kind: str  # "std" | "expand" | "collect"
    is_async: bool
    deps: list[str]
    coefs: list[int]
    const: int
    collects: list[tuple[str, str]] = field(default_factory=list)
    style: str = "gen"  # expanders: how the items are produced
    max_items: int = 0  # expanders: items = (base % (max_items + 1)) of them
    body: list[Spec] = field(default_factory=list)
    policy: str = "fail"


# -- what each node computes (shared by the reference and, as source, by the module) -----------


def _fold(values: list[int]) -> int:
    h = 7
    for v in values:
        h = (h * 31 + v) % MOD
    return (h + len(values)) % MOD


def _base(spec: Spec, env: dict[str, Any]) -> int:
    return spec.const + sum(c * env[d] for d, c in zip(spec.deps, spec.coefs))


def _items(spec: Spec, env: dict[str, Any]) -> list[int]:
    base = _base(spec, env)
    return [(base + 7 * i) % 101 for i in range(base % (spec.max_items + 1))]


def _collected(mode: str, values: list[int]) -> int:
    return (sum(values) + 3 * len(values)) % MOD if mode == "completed" else _fold(values)


def failure_value(node: str, index: tuple[int, ...]) -> int:
    """What a collector counts for an item delivered as a failure."""
    return (sum(ord(c) for c in node) + 31 * sum(index) + 7 * len(index)) % 101


#: ``failure_value``'s value when the delivered error is not the one injected there
WRONG_FAILURE = -1_000_000


# -- the reference evaluator ----------------------------------------------------------------------


def block_names(body: list[Spec]) -> list[str]:
    """Every non-expander node of a block, nested blocks included."""
    names = []
    for spec in body:
        if spec.kind == "expand":
            names += block_names(spec.body)
        else:
            names.append(spec.name)
    return names


def all_specs(body: list[Spec]) -> list[Spec]:
    found = []
    for spec in body:
        found.append(spec)
        found += all_specs(spec.body)
    return found


def needed_names(body: list[Spec], outputs: list[str]) -> set[str]:
    """The nodes the outputs need (their upstream closure), as the engine runs them."""
    specs = {s.name: s for s in all_specs(body)}
    needed: set[str] = set()
    todo = [name for name in outputs if name in specs]
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        needed.add(name)
        spec = specs[name]
        todo += [d for d in spec.deps if d in specs]
        todo += [c for c, _ in spec.collects]
    return needed


@dataclass(frozen=True)
class Marker:
    """The reference's ``ItemFailure``: the item at ``index`` ended when ``node`` failed."""

    node: str
    index: tuple[int, ...]
    policy: str


@dataclass
class Faults:
    """Which calls raise: ``calls[(node, index)] = kind``; generators: ``after[(node, index)]
    = (k, kind)``, raised after yielding k items."""

    calls: dict[tuple[str, tuple[int, ...]], str] = field(default_factory=dict)
    after: dict[tuple[str, tuple[int, ...]], tuple[int, str]] = field(default_factory=dict)

    def table(self) -> dict[str, Any]:
        return {"calls": dict(self.calls), "after": dict(self.after)}

    def kind(self, node: str, index: tuple[int, ...]) -> str:
        if (node, index) in self.calls:
            return self.calls[(node, index)]
        return self.after[(node, index)][1]


@dataclass(frozen=True)
class Call:
    """One node call the reference made: where, and what a fault there would do."""

    node: str
    index: tuple[int, ...]
    kind: str  # "std" | "collect" | "expand"
    style: str  # expanders: how the items are produced
    policy: str  # the error policy in effect (always "fail" outside blocks)
    items: int  # expanders: how many items this call produces
    is_async: bool = False  # whether the node's function is a coroutine or async generator
    outer: str = ""  # the outermost expander the call is in ("" outside blocks)
    #: what the function receives (its dependencies' values, the lists it collects), spelled
    #: out: two calls of a node with equal ``inputs`` share a cache key
    inputs: str = ""


class RunFailed(Exception):
    """The reference's verdict: the run fails because ``node`` failed at ``index``."""

    def __init__(self, node: str, index: tuple[int, ...], kind: str, outer: str = "") -> None:
        super().__init__(node, index, kind)
        self.node = node
        self.index = index
        self.kind = kind
        self.outer = outer  # the outermost expander the failing call is in


def _value(v: Any) -> int:
    return failure_value(v.node, v.index) if isinstance(v, Marker) else int(v)


class Reference:
    """Evaluates a dataflow for its outputs, with ``faults``; records every call it makes."""

    def __init__(self, body: list[Spec], outputs: list[str], faults: Faults | None = None):
        self.body = body
        self.outputs = outputs
        self.faults = faults if faults is not None else Faults()
        self.needed = needed_names(body, outputs)
        self.calls: list[Call] = []
        #: the value of every in-block node call that returned, by (node, index path)
        self.values: dict[tuple[str, tuple[int, ...]], int] = {}
        #: the items ended by an error policy, as their markers
        self.ended: list[Marker] = []
        self._outer: list[str] = []

    def run(self, inputs: dict[str, int]) -> dict[str, Any]:
        """The outputs' values; raises :class:`RunFailed` when the run must fail."""
        out = self._instance(self.body, dict(inputs), ())
        assert isinstance(out, dict)  # outside blocks a failure always fails the run
        return {name: out.get(name, inputs.get(name)) for name in self.outputs}

    def _instance(
        self, body: list[Spec], env: dict[str, Any], index: tuple[int, ...]
    ) -> dict[str, Any] | Marker:
        env = dict(env)
        out: dict[str, Any] = {}
        lists: dict[str, list[Any]] = {}
        for spec in body:
            if spec.name not in self.needed:
                continue
            policy = spec.policy if index else "fail"
            where = (spec.name, index)
            if spec.kind == "expand":
                items = _items(spec, env)
                outer = self._outer[0] if self._outer else ""
                self.calls.append(
                    Call(
                        spec.name,
                        index,
                        "expand",
                        spec.style,
                        policy,
                        len(items),
                        spec.is_async,
                        outer,
                        _inputs(spec, env, lists),
                    )
                )
                produced, fails = items, where in self.faults.calls
                if spec.style in GENERATOR_STYLES and where in self.faults.after:
                    k = self.faults.after[where][0]
                    if k <= len(items):
                        produced, fails = items[:k], True
                elif fails:
                    produced = []
                self._outer.append(spec.name)
                results = [
                    self._instance(spec.body, {**env, spec.name: item}, (*index, i))
                    for i, item in enumerate(produced)
                ]
                self._outer.pop()
                if fails:
                    return self._failed(spec.name, index, policy)
                lists[spec.name] = _gathered(items, results)
                for name in block_names(spec.body):
                    if name in self.needed:
                        values = [r if isinstance(r, Marker) else r[name] for r in results]
                        lists[name] = out[name] = _gathered(values, results)
            else:
                outer = self._outer[0] if self._outer else ""
                self.calls.append(
                    Call(
                        spec.name,
                        index,
                        spec.kind,
                        "",
                        policy,
                        0,
                        spec.is_async,
                        outer,
                        _inputs(spec, env, lists),
                    )
                )
                if where in self.faults.calls:
                    return self._failed(spec.name, index, policy)
                value = _base(spec, env)
                for name, mode in spec.collects:
                    value += _collected(mode, [_value(v) for v in lists[name]])
                env[spec.name] = out[spec.name] = value % MOD
                if index:
                    self.values[(spec.name, index)] = value % MOD
        return out

    def _failed(self, node: str, index: tuple[int, ...], policy: str) -> Marker:
        if policy == "fail":
            outer = self._outer[0] if self._outer else ""
            raise RunFailed(node, index, self.faults.kind(node, index), outer)
        marker = Marker(node, index, policy)
        self.ended.append(marker)
        return marker


def _inputs(spec: Spec, env: dict[str, Any], lists: dict[str, list[Any]]) -> str:
    deps = [env[d] for d in spec.deps]
    collected = [[_value(v) for v in lists[name]] for name, _ in spec.collects]
    return repr((deps, collected))


def _gathered(values: list[Any], results: list[Any]) -> list[Any]:
    """A collected list: ended items delivered as their marker, or left out (skip)."""
    gathered = []
    for value, result in zip(values, results):
        if isinstance(result, Marker):
            if result.policy == "deliver":
                gathered.append(result)
        else:
            gathered.append(value)
    return gathered


def evaluate(body: list[Spec], env: dict[str, Any]) -> dict[str, Any]:
    """Values of every node of the scope, and of nested nodes as (nested) lists in yield
    order, without faults."""
    return Reference(body, block_names(body)).run(dict(env))


def comparable(value: Any) -> Any:
    """A run's value with each ``ItemFailure`` (or reference :class:`Marker`) as a tuple:
    the failing node, the item, the policy, and whether the error is the one injected."""
    if isinstance(value, list):
        return [comparable(v) for v in value]
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    if isinstance(value, Marker):
        return ("failure", value.node, value.index, value.policy, True)
    if isinstance(value, ItemFailure):
        err = value.error
        injected = getattr(err, "node", None) == value.node and getattr(err, "index", None) == (
            value.index
        )
        return ("failure", value.node, value.index, value.policy, injected)
    return value


# -- source of the module --------------------------------------------------------------------------

HEADER = """\
import asyncio
import functools
import inspect
import os

from asyncdag._calls import current_call as _current_call
from asyncdag.htypes import (
    Collect,
    CollectAsCompleted,
    CollectStream,
    ItemFailure,
    Parallelizable,
)
from asyncdag.policies import on_error

MOD = 1009
WRONG_FAILURE = -1000000
FAULTS = {"calls": {}, "after": {}, "tick": False, "sink": False, "log": None, "parent": None}


class Injected(Exception):
    pass


class InjectedTimeout(Injected, TimeoutError):
    pass


def _fold(values):
    h = 7
    for v in values:
        h = (h * 31 + v) % MOD
    return (h + len(values)) % MOD


async def _aiter(values):
    for v in values:
        await asyncio.sleep(0)
        yield v


def _traced(fn):
    # A pass-through wrapper of the same call style: the engine makes a CallInfo
    # (current_call()) only for wrapped functions, and each node here reads its own.
    if inspect.isasyncgenfunction(fn):
        async def wrapper(*args, **kwargs):
            agen = fn(*args, **kwargs)
            try:
                async for value in agen:
                    yield value
            finally:
                await agen.aclose()
    elif inspect.isgeneratorfunction(fn):
        def wrapper(*args, **kwargs):
            return (yield from fn(*args, **kwargs))
    elif inspect.iscoroutinefunction(fn):
        async def wrapper(*args, **kwargs):
            return await fn(*args, **kwargs)
    else:
        def wrapper(*args, **kwargs):
            return fn(*args, **kwargs)
    return functools.wraps(fn)(wrapper)


def _event(*event):
    sink = FAULTS["sink"]
    if sink:
        sink(event)
    elif FAULTS["log"] is not None:
        fd = os.open(FAULTS["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, (repr((os.getpid(), *event)) + "\\n").encode())
        finally:
            os.close(fd)


def _raise(name, where, kind):
    if kind == "die" and os.getpid() != FAULTS["parent"]:
        os.kill(os.getpid(), 9)  # a worker process dies mid-call
    if kind == "cancelled":
        cls = asyncio.CancelledError
    elif kind == "timeout":
        cls = InjectedTimeout
    else:
        cls = Injected
    exc = cls(f"injected into {name} at {where}")
    exc.node = name
    exc.index = where
    raise exc


def _probe(name):
    call = _current_call()
    if call is None or call.node != name:
        _event("anomaly", name, repr(call))
        where = None
    else:
        where = tuple(call.index)
    tick = FAULTS["tick"]
    if tick:
        tick(name)
    kind = FAULTS["calls"].get((name, where))
    if kind is not None:
        _raise(name, where, kind)
    return where


def _after(name, where, k):
    fault = FAULTS["after"].get((name, where))
    if fault is not None and fault[0] == k:
        _raise(name, where, fault[1])


def _val(v):
    if isinstance(v, ItemFailure):
        err = v.error
        if getattr(err, "node", None) != v.node or getattr(err, "index", None) != v.index:
            return WRONG_FAILURE
        return (sum(ord(c) for c in v.node) + 31 * sum(v.index) + 7 * len(v.index)) % 101
    return v
"""

ANNOTATION = {
    "list": "Collect[int]",
    "stream": "CollectStream[int]",
    "completed": "CollectAsCompleted[int]",
}


def _source(spec: Spec) -> str:
    params = [f"{d}: int" for d in spec.deps]
    params += [f"{name}: {ANNOTATION[mode]}" for name, mode in spec.collects]
    base = " + ".join([str(spec.const)] + [f"{c} * {d}" for d, c in zip(spec.deps, spec.coefs)])
    prefix = "async def" if spec.is_async else "def"
    lines = [f'@on_error("{spec.policy}")'] if spec.policy != "fail" else []
    lines.append("@_traced")
    name = spec.name
    if spec.kind == "expand":
        lines.append(f"{prefix} {name}({', '.join(params)}) -> Parallelizable[int]:")
        lines.append(f'    where = _probe("{name}")')
        lines.append(f"    base = {base}")
        count = f"base % {spec.max_items + 1}"
        values = f"[(base + 7 * i) % 101 for i in range({count})]"
        if spec.style in GENERATOR_STYLES:
            lines.append(f'    _event("open", "{name}", where)')
            lines.append("    try:")
            lines.append(f"        for i in range({count}):")
            if spec.is_async:
                lines.append("            await asyncio.sleep(0)")
            lines.append(f'            _after("{name}", where, i)')
            lines.append("            yield (base + 7 * i) % 101")
            lines.append(f'        _after("{name}", where, {count})')
            lines.append("    finally:")
            lines.append(f'        _event("close", "{name}", where)')
        elif spec.style == "list":
            lines.append(f"    return {values}")
        elif spec.style == "aiter":
            lines.append(f"    return _aiter({values})")
        else:
            lines.append(f"    return iter({values})")
        return "\n".join(lines)
    lines.append(f"{prefix} {name}({', '.join(params)}) -> int:")
    lines.append(f'    _probe("{name}")')
    if spec.is_async:
        lines.append("    await asyncio.sleep(0)")
    lines.append(f"    value = {base}")
    for collected, mode in spec.collects:
        if mode == "list":
            lines.append(f"    xs = [_val(v) for v in {collected}]")
        elif spec.is_async:
            lines.append(f"    xs = [_val(v) async for v in {collected}]")
        else:
            lines.append(f"    xs = [_val(v) for v in {collected}]")
        if mode == "completed":
            lines.append("    value += (sum(xs) + 3 * len(xs)) % MOD")
        else:
            lines.append("    value += _fold(xs)")
    lines.append("    return value % MOD")
    return "\n".join(lines)


_modules = itertools.count()


def build_module(body: list[Spec]) -> types.ModuleType:
    """The module implementing ``body``; its source is ``module.__source__``. It is made in
    memory, never registered in ``sys.modules``: worker processes get its code by value."""
    module = types.ModuleType(f"tests.dags_stream.generated_{next(_modules)}")
    source = "\n\n\n".join([HEADER, *(_source(s) for s in all_specs(body))]) + "\n"
    module.__dict__["__source__"] = source
    exec(compile(source, module.__name__, "exec"), module.__dict__)
    return module


class ParentOnly:
    """A callable for ``FAULTS`` that stays in this process: pickled, it is ``False``, so the
    copy of the table a worker process receives has no tick and no sink."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)

    def __reduce__(self) -> tuple[Any, ...]:
        return (bool, ())


# -- the generator of random specs -----------------------------------------------------------------


@st.composite
def dataflows(
    draw: st.DrawFn, policies: bool = False, expander_policies: bool = False
) -> tuple[list[Spec], list[str]]:
    """A random nested dataflow and the outputs to request. With ``policies``, nodes get an
    ``on_error`` policy (inside blocks mostly; a few outside, where it changes nothing);
    expanders too with ``expander_policies``."""
    names = itertools.count()
    block_outputs: list[str] = []

    def coefs(n: int) -> list[int]:
        return draw(st.lists(st.integers(1, 9), min_size=n, max_size=n))

    def pick_deps(local: list[str], outer: list[str], *, need_local: bool) -> list[str]:
        deps = [draw(st.sampled_from(local))] if need_local or not outer else []
        extra = draw(st.lists(st.sampled_from(local + outer), max_size=2, unique=True))
        return deps + [d for d in extra if d not in deps]

    def policy(depth: int) -> str:
        if not policies:
            return "fail"
        weights = ["fail", "skip", "deliver"] if depth else ["fail"] * 4 + ["skip", "deliver"]
        return draw(st.sampled_from(weights))

    def scope(depth: int, local: list[str], outer: list[str]) -> list[Spec]:
        body: list[Spec] = []
        local = list(local)
        # collectable names: node -> (its expander, the local names defined before it)
        collectable: dict[str, tuple[str, list[str]]] = {}
        nested = depth > 0
        kinds = ["std", "expand", "expand", "collect", "collect", "collect"]
        if depth >= 3:
            kinds = [k for k in kinds if k != "expand"]
        for position in range(draw(st.integers(1, 4))):
            # the top scope starts with an expander: flat dataflows teach little
            kind = "expand" if depth == 0 and position == 0 else draw(st.sampled_from(kinds))
            if kind == "collect" and not collectable:
                kind = "expand" if depth < 3 else "std"
            is_async = draw(st.booleans())
            if kind == "std":
                deps = pick_deps(local, outer, need_local=nested)
                spec = Spec(
                    f"n{next(names)}",
                    "std",
                    is_async,
                    deps,
                    coefs(len(deps)),
                    draw(st.integers(0, 50)),
                )
            elif kind == "expand":
                deps = pick_deps(local, outer, need_local=nested)
                style = draw(st.sampled_from(EXPAND_STYLES))
                is_async = style in ("agen", "aiter")
                spec = Spec(
                    f"e{next(names)}",
                    "expand",
                    is_async,
                    deps,
                    coefs(len(deps)),
                    draw(st.integers(0, 50)),
                    style=style,
                    max_items=draw(st.integers(0, 3)),
                )
                before = list(local)
                spec.body = scope(depth + 1, [spec.name], local + outer)
                collectable[spec.name] = (spec.name, before)
                for child in spec.body:
                    if child.kind != "expand":
                        collectable[child.name] = (spec.name, before)
                block_outputs.extend(block_names(spec.body))
            else:
                chosen = draw(
                    st.lists(
                        st.sampled_from(sorted(collectable)), min_size=1, max_size=2, unique=True
                    )
                )
                if len(chosen) == 1 and draw(st.booleans()):
                    # A streaming collector must not wait for its own expansion to finish:
                    # its other inputs come from before the expander.
                    mode = draw(st.sampled_from(["stream", "completed"]))
                    before = collectable[chosen[0]][1]
                    pool = before + outer
                    deps = (
                        draw(st.lists(st.sampled_from(pool), max_size=2, unique=True))
                        if pool
                        else []
                    )
                    collects = [(chosen[0], mode)]
                else:
                    deps = draw(st.lists(st.sampled_from(local + outer), max_size=2, unique=True))
                    collects = [(name, "list") for name in chosen]
                spec = Spec(
                    f"c{next(names)}",
                    "collect",
                    is_async,
                    deps,
                    coefs(len(deps)),
                    draw(st.integers(0, 50)),
                    collects=collects,
                )
            if spec.kind != "expand" or expander_policies:
                spec.policy = policy(depth)
            body.append(spec)
            if spec.kind != "expand":
                local.append(spec.name)
        return body

    body = scope(0, ["x", "y"], [])
    outputs = [s.name for s in body if s.kind != "expand"]
    if block_outputs:
        outputs += draw(st.lists(st.sampled_from(block_outputs), max_size=2, unique=True))
    if not outputs:
        outputs = ["x"]
    return body, outputs


def describe(body: list[Spec], outputs: list[str]) -> str:
    """The spec as an indented outline (for failure reports)."""
    lines = [f"outputs: {outputs}"]

    def walk(specs: list[Spec], depth: int) -> None:
        for s in specs:
            extra = f" style={s.style} max_items={s.max_items}" if s.kind == "expand" else ""
            lines.append(
                f"{'  ' * depth}{s.name} {s.kind} async={s.is_async} deps={s.deps}"
                f" collects={s.collects} policy={s.policy}{extra}"
            )
            walk(s.body, depth + 1)

    walk(body, 0)
    return "\n".join(lines)
