"""nodes_for_functions at the node level: names, dependencies, call styles, pickling, and the
seed's @resolve shape."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from typing import Any

import cloudpickle
import pytest

from asyncdag import settings
from asyncdag.function_modifiers import (
    ResolveAt,
    check_output,
    config,
    extract_fields,
    group,
    inject,
    parameterize,
    parameterize_sources,
    pipe_output,
    resolve,
    source,
    step,
    tag,
    value,
)
from asyncdag.function_modifiers._resolve import nodes_for_functions
from asyncdag.graph._node import DepKind, Node, Role
from asyncdag.htypes import Collect, Parallelizable

POWER = {settings.ENABLE_POWER_USER_MODE: True}


def build(*fns: Callable[..., Any], cfg: dict[str, Any] | None = None) -> dict[str, Node]:
    nodes = nodes_for_functions([(f.__name__, f) for f in fns], cfg or {})
    return {n.name: n for n in nodes}


def deps(node: Node) -> dict[str, tuple[DepKind, bool]]:
    return {d.name: (d.kind, d.required) for d in node.dependencies}


# -- the seed's @resolve example ------------------------------------------------------------------


def test_seed_resolve_shape_at_node_level() -> None:
    @resolve(
        when=ResolveAt.CONFIG_AVAILABLE,
        decorate_with=lambda metric_names: inject(
            sub_metrics=group(*[source(x) for x in metric_names])
        ),
    )
    def all_metrics(sub_metrics: list[dict]) -> dict:
        return {"got": sub_metrics}

    cfg = {**POWER, "metric_names": ["sub_metric_1", "sub_metric_2"]}
    node = build(all_metrics, cfg=cfg)["all_metrics"]
    assert node.dependency_names == ("sub_metric_1", "sub_metric_2")
    assert [d.type for d in node.dependencies] == [dict, dict]
    assert all(d.kind is DepKind.VALUE and d.required for d in node.dependencies)
    got = node.callable(sub_metric_1={"v": 1}, sub_metric_2={"v": 2})
    assert got == {"got": [{"v": 1}, {"v": 2}]}


def test_resolve_requires_power_user_mode() -> None:
    @resolve(when=ResolveAt.CONFIG_AVAILABLE, decorate_with=lambda n: inject(x=value(n)))
    def f(x: int) -> int:
        return x

    from asyncdag.errors import InvalidDecoratorError

    with pytest.raises(InvalidDecoratorError) as info:
        build(f, cfg={"n": 1})
    text = str(info.value)
    assert "@resolve" in text and ".f" in text and settings.ENABLE_POWER_USER_MODE in text
    assert build(f, cfg={"n": 1, "hamilton.enable_power_user_mode": True})["f"].callable() == 1


def test_resolve_not_evaluated_for_a_function_the_config_drops() -> None:
    @resolve(when=ResolveAt.CONFIG_AVAILABLE, decorate_with=lambda n: inject(x=value(n)))
    @config.when(use_it=True)
    def f(x: int) -> int:
        return x

    assert build(f, cfg={"use_it": False}) == {}


# -- call styles: async stays async, generators stay generators ----------------------------------


def test_async_function_stays_a_coroutine_function() -> None:
    @parameterize(plus_one={"n": value(1)}, plus_x={"n": source("x")})
    async def plus(base: int, n: int) -> int:
        await asyncio.sleep(0)
        return base + n

    nodes = build(plus)
    for node in nodes.values():
        assert node.is_async and inspect.iscoroutinefunction(node.callable)
    assert asyncio.run(nodes["plus_x"].callable(base=1, x=5)) == 6
    assert set(deps(nodes["plus_one"])) == {"base"}


def test_async_generator_expander_returns_an_async_iterable() -> None:
    @inject(limit=value(3))
    async def items(limit: int) -> Parallelizable[int]:
        for i in range(limit):
            yield i

    node = build(items)["items"]
    assert node.role is Role.EXPAND and node.is_async and node.dependency_names == ()
    stream = node.callable()
    assert hasattr(stream, "__aiter__")

    async def drain() -> list[int]:
        return [i async for i in stream]

    assert asyncio.run(drain()) == [0, 1, 2]


def test_sync_generator_expander_stays_a_generator_function() -> None:
    @parameterize_sources(evens={"pool": "even_pool"})
    def numbers(pool: list[int]) -> Parallelizable[int]:
        yield from pool

    node = build(numbers)["evens"]
    assert node.role is Role.EXPAND and not node.is_async
    assert inspect.isgeneratorfunction(node.callable)  # the engine creates it without a hop
    assert list(node.callable(even_pool=[2, 4])) == [2, 4]


def test_collect_kind_survives_renaming() -> None:
    @parameterize_sources(total_a={"values": "a"}, total_b={"values": "b"})
    def total(values: Collect[int], scale: int = 1) -> int:
        return sum(values) * scale

    nodes = build(total)
    assert nodes["total_a"].role is Role.COLLECT
    assert deps(nodes["total_a"]) == {"a": (DepKind.COLLECT, True), "scale": (DepKind.VALUE, False)}
    assert nodes["total_b"].callable(b=[1, 2]) == 3  # scale absent: the default applies


def test_extracted_fields_of_an_async_function_are_async_glue() -> None:
    @extract_fields({"a": int})
    async def pair() -> dict:
        return {"a": 1}

    nodes = build(pair)
    assert nodes["a"].is_async and inspect.iscoroutinefunction(nodes["a"].callable)
    assert asyncio.run(nodes["a"].callable(pair={"a": 7})) == 7


# -- wrappers travel to process workers -------------------------------------------------------


def _module_level_add(x: int, n: int) -> int:
    return x + n


def test_wrappers_round_trip_through_cloudpickle() -> None:
    @check_output(range=(0, 100), importance="fail")
    @pipe_output(step(_module_level_add, n=10))
    @inject(x=source("start"))
    def value_of(x: int) -> int:
        return x

    nodes = build(value_of)
    revived = {name: cloudpickle.loads(cloudpickle.dumps(n.callable)) for name, n in nodes.items()}
    values = {"start": 5}
    order = ["value_of.raw", "value_of.with_module_level_add", "value_of_raw"]
    order += ["value_of_range_validator", "value_of"]
    for name in order:
        values[name] = revived[name](**{d: values[d] for d in nodes[name].dependency_names})
    assert values["value_of"] == 15


# -- stacking beyond Hamilton ---------------------------------------------------------------------


def test_stacked_check_output_keeps_unique_names() -> None:
    @check_output(allow_none=False, importance="fail")
    @check_output(range=(0, 10), importance="warn")
    def checked(x: int) -> int:
        return x

    names = set(build(checked))
    assert names == {
        "checked",
        "checked_raw",
        "checked_range_validator",
        "checked_raw_1",
        "checked_allow_none_validator",
    }


def test_decorating_a_wrapped_function_does_not_leak_to_the_original() -> None:
    def original(x: int) -> int:
        return x

    @functools.wraps(original)
    def wrapper(x: int) -> int:
        return original(x)

    tag(a="b")(wrapper)
    assert build(original)["original"].tags == {}
    assert build(wrapper)["original"].tags == {"a": "b"}


def test_config_suffix_and_target_name() -> None:
    @config.when(region="eu")
    def rate__eu() -> float:
        return 0.2

    @config.when(region="eu", name="custom")
    def anything() -> float:
        return 0.1

    nodes = nodes_for_functions([("rate__eu", rate__eu), ("anything", anything)], {"region": "eu"})
    assert [n.name for n in nodes] == ["rate", "custom"]
    assert nodes[0].tags == {"asyncdag.config": "region"}
