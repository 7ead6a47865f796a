"""A run's plan: which steps run in which block, waiting on what.

Compiled once per (outputs, provided names) and cached on the driver, so a web app pays the
graph walk once, not per request. A plan is a tree of :class:`BlockPlan`: the root holds the
nodes outside any Parallelizable block; each :class:`ExpandStep` owns the ``BlockPlan`` of its
items. Three kinds of step:

- :class:`CallStep`: call a node function (standard nodes and collectors);
- :class:`ExpandStep`: call an expander and open an expansion over its items;
- :class:`ExpandDoneStep`: completes when every item of that expansion is done (what list
  collectors wait on).

Values live in *instances* (one per block instance; the root is one too) under string keys:

- a node's value, under its name, in the instance of the node's scope;
- an expander's item, under the expander's name, in each child instance;
- a collected list of ``X``, under ``X``, in the instance just outside ``X``'s block;
- a stream of ``X`` for collector ``C``, under ``"X\\0C"``, in that same instance;
- inputs and overrides, under their names, in the root instance.

Each argument of a step is resolved as ``(kwarg, levels up, key)``. Inside an instance a step
waits only on steps of the same instance; what a block needs from outside is awaited by the
expansion that opens it, before its first item is dispatched (``ExpandStep.gate_keys``; the
generator itself starts as soon as its own arguments are ready).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from asyncdag._memo import Memo
from asyncdag.errors import ScopeError
from asyncdag.execution._resources import make_ref
from asyncdag.graph._build import Scope
from asyncdag.graph._node import DISCOVERED_TAG, FRONTIER_TAG, DepKind, Node, Role
from asyncdag.graph._select import Selection
from asyncdag.policies import FAIL, ITEM_LABEL_TAG, ON_ERROR_TAG
from asyncdag.policies._labels import default_label
from asyncdag.policies._wrapping import WAITS_TAG
from asyncdag.resources import PER_WORKER_TAG

__all__ = [
    "BlockPlan",
    "CallStep",
    "ExpandDoneStep",
    "ExpandStep",
    "Plan",
    "Step",
    "compile_plan",
]

Arg = tuple[str, int, str]  # (keyword, levels up, key)


@dataclass(eq=False, kw_only=True)
class Step:
    name: str
    dependents: list[int] = field(default_factory=list)
    waits: int = 0


@dataclass(eq=False, kw_only=True)
class _NodeStep(Step):
    node: Node
    fn: Callable[..., Any]
    is_async: bool = False
    args: tuple[Arg, ...] = ()
    # arguments that read a per-worker resource: resolved where the step runs
    resource_args: tuple[str, ...] = ()
    on_error: str = FAIL  # what a failure of this node does to its item (asyncdag.policies)
    #: (keyword, key) of each argument when all are this instance's plain values (a fast path;
    #: set for calls)
    local: tuple[tuple[str, str], ...] | None = None


@dataclass(eq=False, kw_only=True)
class CallStep(_NodeStep):
    emit: bool = False  # astream: report this step's value as it is produced
    # a sync step that must never run on a loop's thread: a sync streaming collector blocks
    # on its stream, a policy may wait (backoff, slot, rate window)
    needs_thread: bool = False
    stream_keys: tuple[str, ...] = ()  # the streams this step reads (a streaming collector)
    # sync steps run in one thread hop, this one first: a chain where each step is the only
    # reader of the previous one and waits on nothing else (one hop, not one per node)
    chain: tuple[int, ...] = ()
    fused: bool = False  # runs inside an earlier step's chain
    #: the function is wrapped (a policy, a cache, a hook's wrapper) and may read the call's
    #: CallInfo (asyncdag._calls): only then is one made for each call
    wants_call: bool = True
    #: a cache on this call's route that the engine calls itself, around the node's own
    #: function, instead of calling the cache's wrapper (asyncdag._memo)
    memo: Memo | None = None


@dataclass(eq=False, kw_only=True)
class ExpandStep(_NodeStep):
    child: BlockPlan
    done_step: int = -1  # index of its ExpandDoneStep
    overridden_items: bool = False  # the items come from an override, not a call
    gate_keys: tuple[str, ...] = ()  # values of this instance the block reads
    frontier: bool = False  # fed by its own block (htypes.Frontier)


@dataclass(eq=False, kw_only=True)
class ExpandDoneStep(Step):
    pass


@dataclass(eq=False)
class BlockPlan:
    expander: str | None
    scope: Scope
    steps: list[Step] = field(default_factory=list)
    initial_waits: list[int] = field(default_factory=list)
    ready: tuple[int, ...] = ()
    # as a child block: keys collected from each instance into lists in the parent instance
    list_sinks: list[str] = field(default_factory=list)
    # as a child block: (key in the child, stream key in the parent, in yield order?)
    stream_sinks: list[tuple[str, str, bool]] = field(default_factory=list)
    # steps that read from outside the block: (levels up from this block, key)
    external: set[tuple[int, str]] = field(default_factory=set)
    all_sync: bool = True  # only sync CallSteps: an instance can run in one thread hop
    #: the step, when the block is one async node that reads no stream (set at compile): its
    #: items may run as one task each, with no Instance (``_fanout._Lone``)
    lone_async: CallStep | None = None
    emitted: tuple[str, ...] = ()  # CallSteps whose values astream reports
    label: Callable[[Any], Any] | None = None  # names an item (policies.item_label)
    #: as a child block: nodes whose values are new items for a Frontier expander
    feeders: tuple[str, ...] = ()

    def calls_by_name(self) -> dict[str, CallStep]:
        """The call steps of this block and of the blocks nested in it, by node name."""
        found = self.__dict__.get("_calls_by_name")
        if found is None:
            found = {}
            todo = [self]
            while todo:
                b = todo.pop()
                for s in b.steps:
                    if isinstance(s, CallStep):
                        found[s.name] = s
                    elif isinstance(s, ExpandStep):
                        todo.append(s.child)
            self.__dict__["_calls_by_name"] = found
        return found

    def label_of(self, item: Any) -> str:
        """The short label of one item of this block's expander."""
        if self.label is None:
            return default_label(item)
        try:
            return str(self.label(item))
        except Exception as exc:  # a label must never fail a run
            return f"{default_label(item)} (label failed: {type(exc).__name__})"

    @property
    def depth(self) -> int:
        return len(self.scope)


@dataclass(eq=False)
class Plan:
    root: BlockPlan
    outputs: tuple[str, ...]
    required_inputs: frozenset[str]
    optional_inputs: frozenset[str]
    nodes: tuple[str, ...]  # nodes that will run, in topological order
    #: the outputs a run returns at its end: all of them, or (a streaming plan, whose in-block
    #: outputs go to astream item by item and are not gathered again) those outside blocks
    returned: tuple[str, ...] = ()


def stream_key(key: str, consumer: str) -> str:
    return f"{key}\0{consumer}"


def compile_plan(selection: Selection, *, streaming: bool = False) -> Plan:
    """The plan of the request ``selection`` describes.

    ``streaming`` (``astream``): in-block outputs are reported as they are produced and not
    also gathered into lists for the end of the run.
    """
    builder = _Builder(selection)
    for name in selection.order:
        if not selection.overridden(name):
            builder.add_node(name)
    builder.add_sinks(gather_outputs=not streaming)
    builder.link_feeders()
    builder.add_waits()
    returned = tuple(o for o in selection.outputs if not streaming or not selection.key_scope(o))
    return Plan(
        root=builder.blocks[()],
        outputs=selection.outputs,
        required_inputs=selection.required_inputs,
        optional_inputs=selection.optional_inputs,
        nodes=selection.order,
        returned=returned,
    )


class _Builder:
    """The passes of :func:`compile_plan`: steps, sinks, then waits (deepest block first)."""

    def __init__(self, selection: Selection) -> None:
        self.sel = selection
        self.blocks: dict[Scope, BlockPlan] = {(): BlockPlan(expander=None, scope=())}
        self.index: dict[tuple[Scope, str], int] = {}
        self.resources = {
            n
            for n in selection.order
            if selection.nodes[n].tags.get(PER_WORKER_TAG) and n not in selection.provided
        }
        for name in self.resources:
            if selection.scopes[name]:
                raise ScopeError(
                    f"per-worker resource {name!r} reads a per-item value, so it would be"
                    " rebuilt for every item; give it only plain inputs, config or outer nodes."
                )

    def block(self, scope: Scope) -> BlockPlan:
        found = self.blocks.get(scope)
        if found is None:
            self.block(scope[:-1])
            found = self.blocks[scope] = BlockPlan(expander=scope[-1], scope=scope)
        return found

    def _add(self, scope: Scope, step: Step) -> int:
        b = self.block(scope)
        b.steps.append(step)
        i = self.index[(scope, step.name)] = len(b.steps) - 1
        return i

    def _args(self, node: Node, scope: Scope, overridden: bool) -> tuple[Arg, ...]:
        if overridden:
            return ()
        sel, args = self.sel, []
        for dep in node.dependencies:
            if dep.name not in sel.nodes and dep.name not in sel.provided:
                continue  # optional input not given: the function's default applies
            ks = sel.key_scope(dep.name)
            if dep.kind is DepKind.VALUE:
                args.append((dep.name, len(scope) - len(ks), dep.name))
            elif dep.kind is DepKind.COLLECT:
                args.append((dep.name, len(scope) - len(ks) + 1, dep.name))
            else:
                key = stream_key(dep.name, node.name)
                args.append((dep.name, len(scope) - len(ks) + 1, key))
        return tuple(args)

    def add_node(self, name: str) -> None:
        sel = self.sel
        node: Node = sel.nodes[name]
        scope = sel.scopes[name]
        overridden = name in sel.provided  # only expanders get here overridden
        args = self._args(node, scope, overridden)
        fn, is_async = node.callable, node.is_async
        if name in self.resources:  # its value is a recipe; the object is built where read
            fn = functools.partial(make_ref, name, node.callable, node.is_async)
            is_async = False
        resource_args = tuple(
            d.name for d in node.dependencies if d.name in self.resources and not d.kind.collects
        )
        if node.role is Role.EXPAND:
            child = self.block((*scope, name))
            step = ExpandStep(
                name=name,
                node=node,
                fn=fn,
                is_async=is_async,
                args=args,
                child=child,
                overridden_items=overridden,
                resource_args=resource_args,
                frontier=bool(node.tags.get(FRONTIER_TAG)),
                on_error=node.tags.get(ON_ERROR_TAG, FAIL),
            )
            child.label = node.tags.get(ITEM_LABEL_TAG)
            self._add(scope, step)
            step.done_step = self._add(scope, ExpandDoneStep(name=f"{name}\0done"))
            self.blocks[scope].all_sync = False
            return
        streams = tuple(key for _, _, key in args if "\0" in key)
        self._add(
            scope,
            CallStep(
                name=name,
                node=node,
                fn=fn,
                is_async=is_async,
                args=args,
                resource_args=resource_args,
                on_error=node.tags.get(ON_ERROR_TAG, FAIL),
                emit=name in sel.outputs,
                needs_thread=not node.is_async
                and (bool(streams) or bool(node.tags.get(WAITS_TAG))),
                stream_keys=streams,
                wants_call=hasattr(fn, "__wrapped__"),
                local=(
                    tuple((kw, key) for kw, _, key in args)
                    if not resource_args and all(lvl == 0 for _, lvl, _ in args)
                    else None
                ),
            ),
        )
        if is_async:
            self.blocks[scope].all_sync = False

    def add_sinks(self, gather_outputs: bool) -> None:
        """What each expansion hands to the instance outside its block."""
        sel = self.sel
        for name in sel.order:
            node: Node = sel.nodes[name]
            if name in sel.provided:
                continue
            for dep in node.dependencies:
                if not dep.kind.collects:
                    continue
                child = self.blocks[sel.key_scope(dep.name)]
                if dep.kind is DepKind.COLLECT:
                    if dep.name not in child.list_sinks:
                        child.list_sinks.append(dep.name)
                else:
                    ordered = dep.kind is DepKind.STREAM
                    child.stream_sinks.append((dep.name, stream_key(dep.name, name), ordered))
        for o in sel.outputs if gather_outputs else ():
            ks = sel.key_scope(o)
            for depth in range(len(ks), 0, -1):
                child = self.blocks[ks[:depth]]
                if o not in child.list_sinks:
                    child.list_sinks.append(o)

    def link_feeders(self) -> None:
        """Each ``Discovered`` node feeds the Frontier expander of its own block."""
        for scope, block in self.blocks.items():
            for step in block.steps:
                if not isinstance(step, CallStep) or not step.node.tags.get(DISCOVERED_TAG):
                    continue
                if not scope:
                    raise ScopeError(
                        f"node {step.name!r} returns Discovered[...] but is not inside any"
                        " block: only a node of a Frontier expander's block can hand it new"
                        " items. Make it read the expander's item (or a value computed from it)."
                    )
                parent = self.blocks[scope[:-1]]
                expand = parent.steps[self.index[(scope[:-1], scope[-1])]]
                assert isinstance(expand, ExpandStep)
                if not expand.frontier and not expand.overridden_items:
                    raise ScopeError(
                        f"node {step.name!r} returns Discovered[...] for the expander"
                        f" {expand.name!r}, which is not fed by its block: annotate"
                        f" {expand.name!r} with '-> Frontier[...]' instead of"
                        " '-> Parallelizable[...]', or return a plain list from"
                        f" {step.name!r}."
                    )
                block.feeders = (*block.feeders, step.name)

    def _producer(self, scope: Scope, key: str) -> int | None:
        """Index (in the block of ``scope``) of the step whose completion makes ``key`` ready."""
        sel, steps = self.sel, self.blocks[scope].steps
        if "\0" in key:  # a stream: ready once its expansion has started
            return self.index[(scope, sel.key_scope(key.split("\0", 1)[0])[-1])]
        idx = self.index.get((scope, key))
        if idx is not None:
            # a node's value, or (for Collect[E] straight on an expander) the list of its items
            step = steps[idx]
            return step.done_step if isinstance(step, ExpandStep) else idx
        ks = sel.key_scope(key)
        if len(ks) == len(scope) + 1 and ks[: len(scope)] == scope:
            expand = steps[self.index[(scope, ks[-1])]]
            assert isinstance(expand, ExpandStep)
            return expand.done_step  # a collected list
        return None  # an item, an input, or an override: there from the start

    def add_waits(self) -> None:
        # Deepest blocks first, so that a child's external needs reach its expander step.
        for scope in sorted(self.blocks, key=len, reverse=True):
            b = self.blocks[scope]
            waits_on: dict[int, set[int]] = {}
            for i, step in enumerate(b.steps):
                if isinstance(step, ExpandStep):
                    self._gate(b, i, step)
                for _, lvl, key in step.args if isinstance(step, _NodeStep) else ():
                    if lvl > 0:
                        b.external.add((lvl, key))
                        continue
                    producer = self._producer(scope, key)
                    if producer is not None and producer != i:
                        waits_on.setdefault(i, set()).add(producer)
            for i, step in enumerate(b.steps):
                producers = waits_on.get(i, set())
                # an ExpandDoneStep is released by its expansion itself
                step.waits = 1 if isinstance(step, ExpandDoneStep) else len(producers)
                for p in producers:
                    b.steps[p].dependents.append(i)
            _check_streams_can_flow(b, waits_on)
            _fuse_sync_chains(b)
            b.initial_waits = [s.waits for s in b.steps]
            b.ready = tuple(i for i, s in enumerate(b.steps) if s.waits == 0)
            b.emitted = tuple(s.name for s in b.steps if isinstance(s, CallStep) and s.emit)
            if len(b.steps) == 1:
                only = b.steps[0]
                if isinstance(only, CallStep) and only.is_async and not only.stream_keys:
                    b.lone_async = only

    def _gate(self, b: BlockPlan, i: int, step: ExpandStep) -> None:
        # What the block reads from this instance does not hold the expander back: the
        # generator starts as soon as its own arguments are ready, and its first item waits
        # at the gate for these values.
        gate = []
        for lvl, key in step.child.external:
            if lvl > 1:
                b.external.add((lvl - 1, key))
                continue
            producer = self._producer(b.scope, key)
            if producer is not None and producer != i:
                gate.append(key)
        step.gate_keys = tuple(gate)


def _fuse_sync_chains(block: BlockPlan) -> None:
    steps = block.steps

    def fusable(s: Step) -> bool:
        return (
            isinstance(s, CallStep)
            and not s.is_async
            and not s.needs_thread
            and not s.resource_args
        )

    nxt: dict[int, int] = {}
    for i, s in enumerate(steps):
        if fusable(s) and len(s.dependents) == 1:
            d = s.dependents[0]
            if fusable(steps[d]) and steps[d].waits == 1:
                nxt[i] = d
    for head in set(nxt) - set(nxt.values()):
        chain = [head]
        while chain[-1] in nxt:
            chain.append(nxt[chain[-1]])
        first = steps[head]
        assert isinstance(first, CallStep)
        first.chain = tuple(chain)
        for i in chain[1:]:
            fused = steps[i]
            assert isinstance(fused, CallStep)
            fused.fused = True


def _check_streams_can_flow(block: BlockPlan, waits_on: Mapping[int, set[int]]) -> None:
    """A streaming collector must be able to run while its expansion is still producing.

    Its values are released from the window only once every streaming collector has taken
    them, so a streaming collector that waits (even indirectly) for its own expansion to
    finish, or for another streaming collector of it, would wait forever.
    """
    steps = block.steps
    stream_source = {
        key: j
        for j, s in enumerate(steps)
        if isinstance(s, ExpandStep)
        for _, key, _ in s.child.stream_sinks
    }
    by_expansion: dict[int, list[int]] = {}
    for i, step in enumerate(steps):
        for _, lvl, key in step.args if isinstance(step, _NodeStep) else ():
            if lvl == 0 and key in stream_source:
                by_expansion.setdefault(stream_source[key], []).append(i)
    for exp, consumers in by_expansion.items():
        expand = steps[exp]
        assert isinstance(expand, ExpandStep)
        blocked = {expand.done_step, *consumers}
        for c in consumers:
            seen: set[int] = set()
            todo = list(waits_on.get(c, ()))
            while todo:
                p = todo.pop()
                if p in seen:
                    continue
                seen.add(p)
                if p in blocked:
                    what = (
                        "the whole collection of its expansion"
                        if p == expand.done_step
                        else f"the streaming collector {steps[p].name!r}"
                    )
                    raise ScopeError(
                        f"streaming collector {steps[c].name!r} would wait for {what} of"
                        f" {expand.name!r} before it starts, while that expansion waits for"
                        f" {steps[c].name!r} to take its values: a deadlock. Use Collect[...]"
                        " for one of them, or make the two collectors independent."
                    )
                todo.extend(waits_on.get(p, ()))
