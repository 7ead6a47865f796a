"""A misapplied decorator fails the build with InvalidDecoratorError naming the function, the
decorator and the problem; a malformed decorator fails where it is written."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import pytest

from asyncdag import driver
from asyncdag.errors import InvalidDecoratorError
from asyncdag.function_modifiers import (
    ResolveAt,
    check_output,
    config,
    does,
    extract_columns,
    extract_fields,
    group,
    inject,
    parameterize,
    pipe_input,
    resolve,
    source,
    step,
    subdag,
    tag,
    unpack_fields,
    value,
)
from asyncdag.function_modifiers._resolve import nodes_for_functions


def _add(x: int, n: int) -> int:
    return x + n


def _cases() -> list[tuple[str, Callable[..., Any], str, str]]:
    """(id, decorated function, decorator named in the message, words of the problem)."""

    @extract_fields({"a": int})
    def not_a_dict() -> int:
        return 1

    @parameterize(out={"missing": value(1)})
    def lacks_parameter(present: int) -> int:
        return present

    @inject(xs=group(source("a"), source("b")))
    def group_into_int(xs: int) -> int:
        return xs

    @unpack_fields("a", "b")
    def not_a_tuple() -> list[int]:
        return [1, 2]

    @extract_columns("a")
    def not_a_frame() -> dict:
        return {}

    @does(_add)
    def not_empty(x: int, n: int) -> int:
        return x + n

    @pipe_input(step(_add, 1, 2, 3))
    def step_does_not_bind(x: int) -> int:
        return x

    @pipe_input(step(_add, n=1), on_input="nope")
    def pipes_into_nothing(x: int) -> int:
        return x

    @check_output(contains="x", importance="fail")
    def wrong_validator_for_type(x: int) -> int:
        return x

    @extract_fields({"a": int})
    @unpack_fields("p", "q")
    def two_final_nodes() -> tuple[int, int]:
        return 1, 2

    @tag(a="b", target_="nowhere")
    def tag_target_missing() -> int:
        return 1

    @resolve(when=ResolveAt.CONFIG_AVAILABLE, decorate_with=lambda n: inject(x=value(n)))
    def resolve_without_power_mode(x: int) -> int:
        return x

    @inject(x=value(1))
    @parameterize(p={"x": value(2)})
    def two_expanders(x: int) -> int:
        return x

    @config.when(mode="a")
    def ends_in_dunder__(x: int) -> int:
        return x

    inner = types.ModuleType("inner_steps")
    exec("def x() -> int:\n    return 1\n", inner.__dict__)

    @subdag(inner, inputs={"x": value(1)})
    def feeds_a_node(x: int) -> int:
        return x

    return [
        ("extract_fields", not_a_dict, "@extract_fields", "dict"),
        ("parameterize", lacks_parameter, "@parameterize", "missing"),
        ("inject-group", group_into_int, "@inject", "list[T]"),
        ("unpack_fields", not_a_tuple, "@unpack_fields", "tuple"),
        ("extract_columns", not_a_frame, "@extract_columns", "DataFrame"),
        ("does", not_empty, "@does", "empty"),
        ("pipe_input-bind", step_does_not_bind, "@pipe_input", "cannot take"),
        ("pipe_input-on_input", pipes_into_nothing, "@pipe_input", "nope"),
        ("check_output", wrong_validator_for_type, "@check_output", "contains"),
        ("single-target", two_final_nodes, "@extract_fields", "exactly one node"),
        ("tag-target", tag_target_missing, "@tag", "nowhere"),
        ("resolve", resolve_without_power_mode, "@resolve", "power-user"),
        ("two-expanders", two_expanders, "@parameterize", "@inject"),
        ("config-dunder", ends_in_dunder__, "@config", "'__'"),
        ("subdag-input-is-a-node", feeds_a_node, "@subdag", "nodes of the subdag"),
    ]


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c[0])
def test_misapplied_decorator_names_function_decorator_and_problem(
    case: tuple[str, Callable[..., Any], str, str],
) -> None:
    _, fn, decorator, problem = case
    with pytest.raises(InvalidDecoratorError) as info:
        nodes_for_functions([(fn.__name__, fn)], {"mode": "a"})
    text = str(info.value)
    assert fn.__qualname__ in text, text
    assert decorator in text, text
    assert problem in text, text


def test_build_reports_the_misapplied_decorator() -> None:
    module = types.ModuleType("misapplied")
    exec(
        "from asyncdag.function_modifiers import extract_fields\n"
        "@extract_fields({'a': int})\n"
        "def returns_int() -> int:\n"
        "    return 1\n",
        module.__dict__,
    )
    with pytest.raises(InvalidDecoratorError, match=r"@extract_fields on function misapplied\."):
        driver.Builder().with_modules(module).build()


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: tag(**{"hamilton.reserved": "x"}), "@tag"),
        (lambda: tag(bad=3), "@tag"),
        (lambda: group(source("a"), b=source("b")), "@group"),
        (lambda: group(1, 2), "@group"),
        (lambda: parameterize(out={"x": 1}), "@parameterize"),
        (lambda: check_output(importance="loud", range=(0, 1)), "@check_output"),
        (lambda: extract_columns(["a", "b"]), "@extract_columns"),
        (lambda: resolve(when="later", decorate_with=lambda: tag(a="b")), "@resolve"),  # type: ignore[arg-type]
    ],
)
def test_malformed_decorator_fails_where_written(make: Callable[[], Any], words: str) -> None:
    with pytest.raises(InvalidDecoratorError, match=words):
        make()
