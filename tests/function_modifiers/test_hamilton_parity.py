"""Each Hamilton-written dataflow runs on Hamilton and, ported, on asyncdag: same nodes, same
values, same tags."""

from __future__ import annotations

import logging

import pytest

from asyncdag.errors import NodeExecutionError
from asyncdag.function_modifiers import DataValidationError

from ._compare import assert_same_run, both

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")

POWER = {"hamilton.enable_power_user_mode": True}


@pytest.mark.parametrize(
    "config",
    [
        {"mode": "fast", "region": "eu"},
        {"mode": "fast", "region": "us"},
        {"mode": "slow", "region": "uk"},
        {},
    ],
    ids=["fast-eu", "fast-us", "slow-uk", "no-config"],
)
def test_config_when_family(config: dict[str, str]) -> None:
    got = assert_same_run("config_dag", config, inputs={"x": 2})
    assert "helper" not in got  # excluded from the graph, still a plain function
    assert got["uses_helper"] == -4
    assert "unsuffixed__kept" in got  # without @config the name is left as it is


def test_config_tags_match() -> None:
    pair = both("config_dag", {"mode": "fast", "region": "eu"})
    h, a = pair.tags()
    # Hamilton records only the last @config's keys; asyncdag records those of every @config.
    assert a.pop("stacked") == {"asyncdag.config": "region,mode"}
    assert h.pop("stacked") == {"asyncdag.config": "mode"}
    assert a == h


def test_parameterize_family() -> None:
    got = assert_same_run("parameterize_dag")
    assert got["a_plus_10"] == 11
    assert got["grouped_sum"] == 104
    assert got["grouped_dict"] == "1-x"
    assert got["with_default"] == 7 and got["with_both"] == 9
    assert got["grouped_a_c"] == 8 and got["grouped_b"] == 6


def test_parameterize_docs_match() -> None:
    pair = both("parameterize_dag")
    docs = {
        framework: {v.name: v.documentation for v in dr.list_available_variables()}
        for framework, dr in (("h", pair.hamilton), ("a", pair.asyncdag))
    }
    for name in ("a_plus_10", "b_plus_c", "a_pow_2", "b_pow_3"):
        assert docs["a"][name] == docs["h"][name]
    assert docs["a"]["a_plus_10"] == "a_plus_10 adds a and 10."


def test_extract_family() -> None:
    got = assert_same_run("extract_dag", inputs={"xs": [1, 2, 3]})
    assert got["total"] == 6 and got["hi"] == 3 and got["n"] == 3
    assert got["partial"] == {"present": 1, "absent": 0}
    assert got["missing_col"] == [7, 7, 7]
    assert got["s2"] == [3, 6, 9]


def test_extract_types_match() -> None:
    pair = both("extract_dag")

    def named(tp: object) -> object:  # a class of the DAG module: one copy per framework
        return tp.__qualname__ if getattr(tp, "__module__", "").startswith("fm_") else tp

    h = {v.name: named(v.type) for v in pair.hamilton.list_available_variables()}
    a = {v.name: named(v.type) for v in pair.asyncdag.list_available_variables()}
    assert {k: a[k] for k in h} == h


def test_tags_family() -> None:
    pair = both("tags_dag", {"mode": "on"})
    h, a = pair.tags()
    assert a == h
    assert a["f1"] == {"kind": "field", "everywhere": "yes"}
    assert a["fields_tagged"] == {"everywhere": "yes"}
    assert a["sinks_tagged"] == {} and a["g1"] == {"sink": "yes"}
    assert_same_run("tags_dag", {"mode": "on"}, inputs={"x": 4})


def test_tag_filter_on_asyncdag() -> None:
    dr = both("tags_dag").asyncdag
    owned = dr.list_available_variables(tag_filter={"owner": "team-a"})
    assert [v.name for v in owned] == ["tagged"]


def test_check_output_passing_values(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        got = assert_same_run("validation_dag", inputs={"x": 3})
    assert got["strict"] == 3 and got["strict_range_validator"] == ("validation", True)
    assert got["size_values_in_validator"] == ("validation", True)


def test_check_output_warn_logs_and_continues(caplog: pytest.LogCaptureFixture) -> None:
    pair = both("validation_dag")
    with caplog.at_level(logging.WARNING):
        got = pair.asyncdag.execute(["warned", "size"], inputs={"x": 50})
    assert got == {"warned": 50, "size": "huge"}
    assert any("warned:range_validator" in r.getMessage() for r in caplog.records)
    assert any("size:values_in_validator" in r.getMessage() for r in caplog.records)


def test_check_output_fail_raises_on_both() -> None:
    pair = both("validation_dag")
    with pytest.raises(Exception) as hamilton_error:
        pair.hamilton.execute(["strict"], inputs={"x": 50})
    assert type(hamilton_error.value).__name__ == "DataValidationError"
    with pytest.raises(NodeExecutionError) as info:
        pair.asyncdag.execute(["strict"], inputs={"x": 50})
    assert info.value.node == "strict"
    assert isinstance(info.value.__cause__, DataValidationError)
    assert "strict:range_validator" in str(info.value.__cause__)


def test_check_output_custom_validator_fails_on_odd() -> None:
    pair = both("validation_dag")
    assert pair.asyncdag.execute(["doubled"], inputs={"x": 3}) == {"doubled": 6}
    assert pair.asyncdag.execute(["doubled_is_even"], inputs={"x": 3})["doubled_is_even"].passes


def test_check_output_tags_match() -> None:
    h, a = both("validation_dag").tags()
    assert a == h
    assert a["strict_range_validator"]["asyncdag.data_quality.source_node"] == "strict"


def test_does() -> None:
    got = assert_same_run("does_dag", inputs={"a": 1, "b": 2, "amount": 1.5})
    assert got == {"total": 6, "scaled": 3.0}


@pytest.mark.parametrize(
    "config",
    [
        {"metric_names": ["m1", "m3"], "pairs": [("m1", "m2")], "field_names": ["f_one"]},
        {
            "metric_names": ["m1", "m2", "m3"],
            "pairs": [("m1", "m2"), ("m3", "m1")],
            "suffix": "_x",
            "field_names": ["f_two", "f_three"],
        },
    ],
    ids=["small", "large"],
)
def test_resolve(config: dict[str, object]) -> None:
    got = assert_same_run("resolve_dag", {**POWER, **config})
    assert got["combined"] == sum(int(n[1]) for n in config["metric_names"])  # type: ignore[attr-defined]


def test_subdag_family() -> None:
    outputs = [
        "added",
        "added.doubled",
        "multiplied",
        "mult.adjusted",
        "from_one",
        "from_two",
        "from_two.doubled",
        "uses_subdags",
        "only_doubled",
    ]
    got = assert_same_run(
        "subdag_dag", {"outer_op": "mul"}, inputs={"bonus": 1000}, outputs=outputs
    )
    assert got["uses_subdags"] == [11, 60 + 20 + 1000, 4, 20]
    assert got["only_doubled"] == 8


def test_subdag_tags_match() -> None:
    h, a = both("subdag_dag", {"outer_op": "mul"}).tags()
    assert a == h
    assert a["added"] == {"kind": "subdag"} and a["added.doubled"] == {}


@pytest.mark.parametrize("config", [{"mode": "big"}, {}], ids=["big", "default"])
def test_pipe_family(config: dict[str, str]) -> None:
    got = assert_same_run("pipe_dag", config, inputs={"factor": 4, "first": 1, "second": 2})
    big = bool(config)
    assert got["piped"] == -((3 + 1) * 4 + (100 if big else 0))
    assert got["piped_second"] == 1000 + (2 + 5) * 10
    assert got["f_a"] == -13 and got["f_b"] == -6
    assert got["out_skipped"] == 3
    assert got["mutated"] == ((3 + 1 + 7) * 2 if big else 3 + 1 + 7)
    assert got["also_mutated"] == (3 + 2 + 7) * 4
