"""Property-based: random dataflows with nested expanders run the same on every executor as a
plain sequential reference evaluator says they should.

A generated dataflow is a tree of scopes. Each scope holds, in order, standard nodes, expanders
(which open a child scope holding their block) and collectors (which collect nodes of a child
scope as a list, a stream in yield order or a stream in completion order). Every node computes
an integer from its inputs; functions are randomly sync or async; expanders are sync or async
generators, lists, async iterables or plain iterators. The reference evaluator walks the spec
directly (it never calls the generated functions): for each expander it iterates the items,
evaluates the block once per item, and collects lists.
"""

from __future__ import annotations

import itertools
import types
from dataclasses import dataclass, field
from typing import Any

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyncdag import driver
from asyncdag.execution import executors, grouping

MOD = 1009
EXPAND_STYLES = ("gen", "agen", "list", "aiter", "iter")
COLLECT_MODES = ("list", "stream", "completed")


@dataclass
class Spec:
    """One node. ``collects`` pairs a collected node with a mode; ``body`` is an expander's
    block."""

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


# -- the reference evaluator ----------------------------------------------------------------------


def _block_names(body: list[Spec]) -> list[str]:
    """Every non-expander node of a block, nested blocks included."""
    names = []
    for spec in body:
        if spec.kind == "expand":
            names += _block_names(spec.body)
        else:
            names.append(spec.name)
    return names


def evaluate(body: list[Spec], env: dict[str, Any]) -> dict[str, Any]:
    """Values of the scope's nodes, and of nested nodes as (nested) lists in yield order."""
    env = dict(env)
    out: dict[str, Any] = {}
    lists: dict[str, list[Any]] = {}
    for spec in body:
        if spec.kind == "std":
            env[spec.name] = out[spec.name] = _base(spec, env) % MOD
        elif spec.kind == "expand":
            items = _items(spec, env)
            lists[spec.name] = items  # Collect[expander] gives the items
            results = [evaluate(spec.body, {**env, spec.name: item}) for item in items]
            for name in _block_names(spec.body):
                lists[name] = out[name] = [r[name] for r in results]
        else:
            value = _base(spec, env)
            for name, mode in spec.collects:
                value += _collected(mode, lists[name])
            env[spec.name] = out[spec.name] = value % MOD
    return out


# -- source of the module --------------------------------------------------------------------------

HEADER = """\
import asyncio

from asyncdag.htypes import Collect, CollectAsCompleted, CollectStream, Parallelizable

MOD = 1009


def _fold(values):
    h = 7
    for v in values:
        h = (h * 31 + v) % MOD
    return (h + len(values)) % MOD


async def _aiter(values):
    for v in values:
        await asyncio.sleep(0)
        yield v
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
    lines = []
    if spec.kind == "expand":
        lines.append(f"{prefix} {spec.name}({', '.join(params)}) -> Parallelizable[int]:")
        lines.append(f"    base = {base}")
        values = f"[(base + 7 * i) % 101 for i in range(base % {spec.max_items + 1})]"
        if spec.style in ("gen", "agen"):
            lines.append(f"    for i in range(base % {spec.max_items + 1}):")
            if spec.is_async:
                lines.append("        await asyncio.sleep(0)")
            lines.append("        yield (base + 7 * i) % 101")
        elif spec.style == "list":
            lines.append(f"    return {values}")
        elif spec.style == "aiter":
            lines.append(f"    return _aiter({values})")
        else:
            lines.append(f"    return iter({values})")
        return "\n".join(lines)
    lines.append(f"{prefix} {spec.name}({', '.join(params)}) -> int:")
    if spec.is_async:
        lines.append("    await asyncio.sleep(0)")
    lines.append(f"    value = {base}")
    for name, mode in spec.collects:
        if mode == "list":
            lines.append(f"    xs = list({name})")
        elif spec.is_async:
            lines.append(f"    xs = [v async for v in {name}]")
        else:
            lines.append(f"    xs = [v for v in {name}]")
        if mode == "completed":
            lines.append("    value += (sum(xs) + 3 * len(xs)) % MOD")
        else:
            lines.append("    value += _fold(xs)")
    lines.append("    return value % MOD")
    return "\n".join(lines)


def _all_specs(body: list[Spec]) -> list[Spec]:
    found = []
    for spec in body:
        found.append(spec)
        found += _all_specs(spec.body)
    return found


_modules = itertools.count()


def build_module(body: list[Spec]) -> types.ModuleType:
    module = types.ModuleType(f"tests.dags_stream.generated_{next(_modules)}")
    source = "\n\n\n".join([HEADER, *(_source(s) for s in _all_specs(body))]) + "\n"
    module.__dict__["__source__"] = source
    exec(compile(source, module.__name__, "exec"), module.__dict__)
    return module


# -- the generator of random specs -----------------------------------------------------------------


@st.composite
def dataflows(draw: st.DrawFn) -> tuple[list[Spec], list[str]]:
    names = itertools.count()
    block_outputs: list[str] = []

    def coefs(n: int) -> list[int]:
        return draw(st.lists(st.integers(1, 9), min_size=n, max_size=n))

    def pick_deps(local: list[str], outer: list[str], *, need_local: bool) -> list[str]:
        deps = [draw(st.sampled_from(local))] if need_local or not outer else []
        extra = draw(st.lists(st.sampled_from(local + outer), max_size=2, unique=True))
        return deps + [d for d in extra if d not in deps]

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
                block_outputs.extend(_block_names(spec.body))
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


# -- the property ---------------------------------------------------------------------------


def _builders(module: types.ModuleType, window: int, strategy: Any) -> dict[str, Any]:
    base = (
        driver.Builder().with_modules(module).with_window(window).with_grouping_strategy(strategy)
    )
    inline = executors.SynchronousLocalTaskExecutor()
    threads = executors.MultiThreadingExecutor(max_tasks=4)
    return {
        "inline": base.copy().with_local_executor(inline).with_remote_executor(inline),
        "threads": base.copy().with_local_executor(threads).with_remote_executor(threads),
        "asyncio": base.copy(),
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    flow=dataflows(),
    inputs=st.fixed_dictionaries({"x": st.integers(0, 30), "y": st.integers(0, 30)}),
    window=st.sampled_from([1, 2, 1024]),
    strategy=st.sampled_from(
        [grouping.GroupByRepeatableBlocks(), grouping.GroupNodesIndividually()]
    ),
)
def test_random_dataflows_match_the_reference(
    flow: tuple[list[Spec], list[str]], inputs: dict[str, int], window: int, strategy: Any
) -> None:
    body, outputs = flow
    reference = evaluate(body, dict(inputs))
    expected = {name: reference.get(name, inputs.get(name)) for name in outputs}
    module = build_module(body)
    builders = _builders(module, window, strategy)

    async def run_all() -> dict[str, dict[str, Any]]:
        results = {}
        for label, builder in builders.items():
            async with builder.build() as dr:
                with anyio.fail_after(10):
                    results[label] = await dr.aexecute(outputs, inputs=inputs)
        return results

    results = anyio.run(run_all)
    with builders["asyncio"].build() as dr:
        results["execute"] = dr.execute(outputs, inputs=inputs)
    for label, result in results.items():
        assert result == expected, f"{label} differs from the reference\n{module.__source__}"


def test_the_reference_evaluator_on_a_hand_written_spec() -> None:
    # x=2: e1 yields (2 % 3) = 2 items: [2, 9]; n2 = item + 1; c3 folds [3, 10].
    n2 = Spec("n2", "std", False, ["e1"], [1], 1)
    e1 = Spec("e1", "expand", False, ["x"], [1], 0, max_items=2, body=[n2])
    c3 = Spec("c3", "collect", True, [], [], 0, collects=[("n2", "list")])
    out = evaluate([e1, c3], {"x": 2, "y": 0})
    assert out == {"n2": [3, 10], "c3": _fold([3, 10])}
    with driver.Builder().with_modules(build_module([e1, c3])).build() as dr:
        assert dr.execute(["c3", "n2"], inputs={"x": 2}) == {"c3": _fold([3, 10]), "n2": [3, 10]}
