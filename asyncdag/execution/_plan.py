"""A run's plan: which nodes run, in which block, waiting on what.

Compiled once per (outputs, provided names) and cached on the driver, so a web app pays the
graph walk once, not per request. A plan is a tree of ``BlockPlan``: the root holds the nodes
outside any Parallelizable block; each expander step owns the ``BlockPlan`` of its items.

Values live in *instances* (one per block instance, the root is one too) under string keys:

- a node's value, under its name, in the instance of the node's scope;
- an expander's item, under the expander's name, in each child instance;
- a collected list of ``X``, under ``X``, in the instance just outside ``X``'s block;
- a stream of ``X`` for collector ``C``, under ``"X\\0C"``, in that same instance;
- inputs and overrides, under their names, in the root instance.

Each argument of a step is resolved as ``(kwarg, levels up, key)``. Inside an instance a step
waits only on steps of the same instance; what a block needs from outside is awaited by the
expansion that opens it, before its first item is dispatched (the generator itself may start
earlier: its ``gate_keys``).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from asyncdag.errors import MissingInputError, ScopeError, UnknownOutputError
from asyncdag.execution._resources import make_ref
from asyncdag.graph._build import Graph, Scope, scopes_of
from asyncdag.graph._node import DepKind, Node, Role
from asyncdag.policies import FAIL, ON_ERROR_TAG
from asyncdag.policies._wrapping import WAITS_TAG
from asyncdag.resources import PER_WORKER_TAG

__all__ = ["BlockPlan", "Plan", "Step", "StepKind", "compile_plan"]


class StepKind(enum.Enum):
    CALL = "call"  # a standard node or a collector
    EXPAND = "expand"  # calls an expander and starts dispatching its items
    EXPAND_DONE = "expand_done"  # completes when every item of the expansion is done


@dataclass(eq=False)
class Step:
    name: str
    kind: StepKind
    node: Node | None = None
    fn: Callable[..., Any] | None = None
    is_async: bool = False
    args: tuple[tuple[str, int, str], ...] = ()
    dependents: list[int] = field(default_factory=list)
    waits: int = 0
    child: BlockPlan | None = None  # EXPAND: the block of each item
    done_step: int = -1  # EXPAND: index of its EXPAND_DONE step
    overridden_items: bool = False  # EXPAND: items come from an override, not a call
    emit: bool = False  # astream: report this step's value as it is produced
    # a sync streaming collector blocks on its stream, so it must never run on the loop thread
    needs_thread: bool = False
    stream_keys: tuple[str, ...] = ()  # the streams this step reads (a streaming collector)
    on_error: str = FAIL  # what a failure of this node does to its item (asyncdag.policies)
    gate_keys: tuple[str, ...] = ()  # EXPAND: values of this instance the block reads
    # sync steps run in one thread hop, this one first: a chain where each step is the only
    # reader of the previous one and waits on nothing else (one hop, not one per node)
    chain: tuple[int, ...] = ()
    fused: bool = False  # runs inside an earlier step's chain
    # arguments that read a per-worker resource: resolved where the step runs
    resource_args: tuple[str, ...] = ()


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
    all_sync: bool = True  # only sync CALL steps: an instance can run in one thread hop

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


def _stream_key(key: str, consumer: str) -> str:
    return f"{key}\0{consumer}"


def compile_plan(graph: Graph, outputs: Iterable[str], provided: frozenset[str]) -> Plan:
    """Plan a run of ``outputs`` when ``provided`` names (inputs, overrides) are given."""
    outputs = tuple(outputs)
    nodes = graph.nodes
    unknown = [o for o in outputs if o not in nodes and o not in provided]
    if unknown:
        known_inputs = sorted(set(graph.inputs) - provided)
        hint = f" It is not a node; inputs not given: {known_inputs}." if known_inputs else ""
        raise UnknownOutputError(
            f"unknown output(s) {unknown}: no node has that name and no input was given for"
            f" it.{hint} Check the spelling, or list the nodes with"
            " driver.list_available_variables()."
        )

    # Walk back from the outputs; an override (or input) stops the walk, except that an
    # overridden expander still fans out over the items given.
    needed: set[str] = set()
    missing: dict[str, list[str]] = {}
    optional: set[str] = set()
    required: set[str] = set()
    stack = [o for o in outputs if o in nodes]
    while stack:
        name = stack.pop()
        if name in needed:
            continue
        needed.add(name)
        if name in provided:
            continue
        for dep in nodes[name].dependencies:
            if dep.name in nodes:
                stack.append(dep.name)
            elif dep.name in provided:
                (required if dep.required else optional).add(dep.name)
            elif dep.required:
                missing.setdefault(dep.name, []).append(name)
    if missing:
        lines = ", ".join(
            f"{k!r} (needed by {', '.join(map(repr, v))})" for k, v in missing.items()
        )
        raise MissingInputError(
            f"missing input(s): {lines}. Pass them in inputs={{...}}, or add a function that"
            " computes them.",
            missing=missing,
        )

    order = [n for n in graph.order if n in needed]
    scopes = scopes_of(nodes, order, provided) if provided & needed else dict(graph.scopes)
    for o in outputs:
        if o in nodes and o in provided and nodes[o].role is not Role.EXPAND:
            scopes[o] = ()

    def key_scope(name: str) -> Scope:
        node = nodes.get(name)
        if node is None or (name in provided and node.role is not Role.EXPAND):
            return ()
        if node.role is Role.EXPAND:
            return (*scopes[name], name)
        return scopes[name]

    blocks: dict[Scope, BlockPlan] = {(): BlockPlan(expander=None, scope=())}

    def block(scope: Scope) -> BlockPlan:
        found = blocks.get(scope)
        if found is None:
            block(scope[:-1])
            found = blocks[scope] = BlockPlan(expander=scope[-1], scope=scope)
        return found

    step_index: dict[tuple[Scope, str], int] = {}

    def add_step(scope: Scope, step: Step) -> int:
        b = block(scope)
        b.steps.append(step)
        step_index[(scope, step.name)] = len(b.steps) - 1
        return len(b.steps) - 1

    waits_on: dict[tuple[Scope, int], set[int]] = {}
    emit_names = set(outputs)
    resources = {n for n in order if nodes[n].tags.get(PER_WORKER_TAG) and n not in provided}
    for name in resources:
        if scopes[name]:
            raise ScopeError(
                f"per-worker resource {name!r} reads a per-item value, so it would be rebuilt"
                " for every item; give it only plain inputs, config or outer nodes."
            )

    for name in order:
        node = nodes[name]
        if name in provided and node.role is not Role.EXPAND:
            continue
        scope = scopes[name]
        overridden = name in provided
        args: list[tuple[str, int, str]] = []
        if not overridden:
            for dep in node.dependencies:
                if dep.name not in nodes and dep.name not in provided:
                    continue  # optional input not given: the function's default applies
                ks = key_scope(dep.name)
                if dep.kind is DepKind.VALUE:
                    args.append((dep.name, len(scope) - len(ks), dep.name))
                elif dep.kind is DepKind.COLLECT:
                    args.append((dep.name, len(scope) - len(ks) + 1, dep.name))
                else:
                    key = _stream_key(dep.name, name)
                    args.append((dep.name, len(scope) - len(ks) + 1, key))
        fn = node.callable
        is_async = node.is_async
        if name in resources:  # its value is a recipe; the object is built where it is read
            fn = functools.partial(make_ref, name, node.callable, node.is_async)
            is_async = False
        resource_args = tuple(
            d.name for d in node.dependencies if d.name in resources and not d.kind.collects
        )
        if node.role is Role.EXPAND:
            child = block((*scope, name))
            done = Step(name=f"{name}\0done", kind=StepKind.EXPAND_DONE)
            step = Step(
                name=name,
                kind=StepKind.EXPAND,
                node=node,
                fn=fn,
                is_async=is_async,
                args=tuple(args),
                child=child,
                overridden_items=overridden,
                resource_args=resource_args,
            )
            add_step(scope, step)
            step.done_step = add_step(scope, done)
            blocks[scope].all_sync = False
        else:
            step = Step(
                name=name,
                kind=StepKind.CALL,
                node=node,
                fn=fn,
                is_async=is_async,
                args=tuple(args),
                resource_args=resource_args,
                on_error=node.tags.get(ON_ERROR_TAG, FAIL),
                emit=name in emit_names,
                needs_thread=not node.is_async
                and (any("\0" in key for _, _, key in args) or bool(node.tags.get(WAITS_TAG))),
                stream_keys=tuple(key for _, _, key in args if "\0" in key),
            )
            add_step(scope, step)
            if is_async:
                blocks[scope].all_sync = False

    # Sinks: what each expansion hands to the instance outside its block.
    for name in order:
        node = nodes[name]
        if name in provided and node.role is not Role.EXPAND:
            continue
        for dep in node.dependencies if name not in provided else ():
            if not dep.kind.collects:
                continue
            ks = key_scope(dep.name)
            child = blocks[ks]
            if dep.kind is DepKind.COLLECT:
                if dep.name not in child.list_sinks:
                    child.list_sinks.append(dep.name)
            else:
                ordered = dep.kind is DepKind.STREAM
                child.stream_sinks.append((dep.name, _stream_key(dep.name, name), ordered))
    for o in outputs:
        ks = key_scope(o)
        for depth in range(len(ks), 0, -1):
            child = blocks[ks[:depth]]
            if o not in child.list_sinks:
                child.list_sinks.append(o)

    # Waits: within an instance, each step waits on the local steps producing its arguments.
    def local_producer(scope: Scope, key: str) -> int | None:
        """Index (in the block of ``scope``) of the step whose completion makes ``key`` ready."""
        steps = blocks[scope].steps
        if "\0" in key:  # a stream: ready once its expansion has started
            return step_index[(scope, key_scope(key.split("\0", 1)[0])[-1])]
        idx = step_index.get((scope, key))
        if idx is not None:
            # a node's value, or (for Collect[E] straight on an expander) the list of its items
            return idx if steps[idx].kind is StepKind.CALL else steps[idx].done_step
        ks = key_scope(key)
        if len(ks) == len(scope) + 1 and ks[: len(scope)] == scope:
            return steps[step_index[(scope, ks[-1])]].done_step  # a collected list
        return None  # an item, an input, or an override: there from the start

    # Process blocks deepest first, so a child's external needs reach its expander step.
    for scope in sorted(blocks, key=len, reverse=True):
        b = blocks[scope]
        for i, step in enumerate(b.steps):
            needs: list[tuple[int, str]] = [(lvl, key) for _, lvl, key in step.args]
            if step.kind is StepKind.EXPAND and step.child is not None:
                # What the block reads from this instance does not hold the expander back:
                # the generator starts as soon as its own arguments are ready, and its items
                # wait at the gate for these values (see Expansion._gate).
                gate = []
                for lvl, key in step.child.external:
                    if lvl > 1:
                        b.external.add((lvl - 1, key))
                        continue
                    producer = local_producer(scope, key)
                    if producer is not None and producer != i:
                        gate.append(key)
                step.gate_keys = tuple(gate)
            for lvl, key in needs:
                if lvl > 0:
                    b.external.add((lvl, key))
                    continue
                producer = local_producer(scope, key)
                if producer is not None and producer != i:
                    waits_on.setdefault((scope, i), set()).add(producer)
        for i, step in enumerate(b.steps):
            producers = waits_on.get((scope, i), set())
            step.waits = len(producers)
            if step.kind is StepKind.EXPAND_DONE:
                step.waits = 1  # released by the expansion itself
            for p in producers:
                b.steps[p].dependents.append(i)
        _check_streams_can_flow(b, waits_on)
        _fuse_sync_chains(b)
        b.initial_waits = [s.waits for s in b.steps]
        b.ready = tuple(i for i, s in enumerate(b.steps) if s.waits == 0)

    return Plan(
        root=blocks[()],
        outputs=outputs,
        required_inputs=frozenset(required),
        optional_inputs=frozenset(optional),
        nodes=tuple(order),
    )


def _fuse_sync_chains(block: BlockPlan) -> None:
    steps = block.steps

    def fusable(s: Step) -> bool:
        return (
            s.kind is StepKind.CALL
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
        steps[head].chain = tuple(chain)
        for i in chain[1:]:
            steps[i].fused = True


def _check_streams_can_flow(
    block: BlockPlan, waits_on: Mapping[tuple[Scope, int], set[int]]
) -> None:
    """A streaming collector must be able to run while its expansion is still producing.

    Its values are released from the window only once every streaming collector has taken
    them, so a streaming collector that waits (even indirectly) for its own expansion to
    finish, or for another streaming collector of it, would wait forever.
    """
    steps = block.steps
    stream_source = {
        key: j
        for j, s in enumerate(steps)
        if s.kind is StepKind.EXPAND and s.child is not None
        for _, key, _ in s.child.stream_sinks
    }
    by_expansion: dict[int, list[int]] = {}
    for i, step in enumerate(steps):
        for _, lvl, key in step.args:
            if lvl == 0 and key in stream_source:
                by_expansion.setdefault(stream_source[key], []).append(i)
    for exp, consumers in by_expansion.items():
        blocked = {steps[exp].done_step, *consumers}
        for c in consumers:
            seen: set[int] = set()
            todo = list(waits_on.get((block.scope, c), ()))
            while todo:
                p = todo.pop()
                if p in seen:
                    continue
                seen.add(p)
                if p in blocked:
                    what = (
                        "the whole collection of its expansion"
                        if p == steps[exp].done_step
                        else f"the streaming collector {steps[p].name!r}"
                    )
                    raise ScopeError(
                        f"streaming collector {steps[c].name!r} would wait for {what} of"
                        f" {steps[exp].name!r} before it starts, while that expansion waits for"
                        f" {steps[c].name!r} to take its values: a deadlock. Use Collect[...]"
                        " for one of them, or make the two collectors independent."
                    )
                todo.extend(waits_on.get((block.scope, p), ()))
