"""The ``asyncdag`` command, run as a user runs it: ``python -m asyncdag`` in a subprocess."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHOPS = REPO / "tests" / "dags_viz" / "shops.py"
# import asyncdag from this checkout, whatever the venv's .pth points at
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
SHOP_ARGS = [
    "--config", "mode=m",
    "--input-json", 'regions=["a", "b"]',
    "--input-json", "shops_per_region=2",
]  # fmt: skip
EXPECTED = {"regions": ["a", "b"], "shops_per_region": 2, "mode": "m"}


def asyncdag(*args: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "asyncdag", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=ENV,
        timeout=60,
    )


def expected(*outputs: str) -> dict[str, object]:
    from tests.dags_viz import shops

    reference = shops._reference(["a", "b"], 2, "m")
    return {o: reference[o] for o in outputs}


def one_error_line(done: subprocess.CompletedProcess[str], status: int) -> str:
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("asyncdag: error: ")
    assert done.stdout == ""
    return lines[0]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# -- run ---------------------------------------------------------------------------------------


def test_run_a_file_prints_the_outputs_as_json() -> None:
    done = asyncdag("run", SHOPS, "--final-var", "report", "--final-var", "summaries", *SHOP_ARGS)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == expected("report", "summaries")


def test_run_a_dotted_module_with_an_inputs_file(tmp_path: Path) -> None:
    inputs = write(tmp_path / "inputs.json", json.dumps({"regions": ["a", "b"], "scale": 1}))
    done = asyncdag(
        "run",
        "tests.dags_viz.shops",
        "--inputs",
        inputs,
        "--input-json",
        "shops_per_region=2",  # flags add to the file's values
        "--config",
        "mode=m",
        "--final-var",
        "report",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == expected("report")


def test_without_outputs_runs_every_node_nothing_reads() -> None:
    done = asyncdag("run", SHOPS, *SHOP_ARGS)
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout)) == {"report", "unused"}


@pytest.mark.parametrize("executor", ["inline", "threads", "processes"])
def test_executors_give_the_same_results(executor: str) -> None:
    done = asyncdag(
        "run", SHOPS, "--final-var", "report", *SHOP_ARGS,
        "--executor", executor, "--max-tasks", "2", "--window", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == expected("report")


def test_values_json_cannot_hold_are_printed_as_repr(tmp_path: Path) -> None:
    module = write(
        tmp_path / "odd.py",
        "import fractions\n"
        "def half(n: int) -> fractions.Fraction:\n    return fractions.Fraction(n, 2)\n"
        "def words(text: str) -> set:\n    return set(text.split())\n"
        "def pairs(n: int) -> dict:\n    return {(n, n): 1}\n",
    )
    done = asyncdag("run", module, "--input-json", "n=3", "--input", "text=b a b")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "half": "Fraction(3, 2)",
        "words": ["a", "b"],
        "pairs": "{(3, 3): 1}",
    }


def test_an_input_that_is_not_json_is_a_string(tmp_path: Path) -> None:
    module = write(tmp_path / "echo.py", "def echo(x: str) -> str:\n    return x\n")
    done = asyncdag("run", module, "--input", "x=hello world")
    assert json.loads(done.stdout) == {"echo": "hello world"}


def test_progress_shows_a_bar_or_says_why_not() -> None:
    done = asyncdag("run", SHOPS, "--final-var", "report", "--progress", *SHOP_ARGS)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == expected("report")
    if importlib.util.find_spec("asyncdag.lifecycle.progress") is None:
        assert "asyncdag.lifecycle.progress" in done.stderr


def test_log_level_turns_on_the_asyncdag_logger() -> None:
    done = asyncdag("--log-level", "INFO", "run", SHOPS, "--final-var", "report", *SHOP_ARGS)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == expected("report")  # logs never mix into the results
    assert "INFO    asyncdag.cli: running report of" in done.stderr
    quiet = asyncdag("run", SHOPS, "--final-var", "report", *SHOP_ARGS)
    assert "asyncdag.cli" not in quiet.stderr


# -- errors ------------------------------------------------------------------------------------


def test_a_missing_input_is_one_line_and_status_2() -> None:
    line = one_error_line(asyncdag("run", SHOPS, "--final-var", "report"), 2)
    assert "missing input" in line and "'regions'" in line and "--input" in line


def test_an_unknown_output_is_one_line_and_status_2() -> None:
    line = one_error_line(asyncdag("run", SHOPS, "--final-var", "nope", *SHOP_ARGS), 2)
    assert "'nope'" in line


def test_an_import_failure_is_one_line_and_status_2(tmp_path: Path) -> None:
    broken = write(tmp_path / "broken.py", "raise RuntimeError('no config file')\n")
    line = one_error_line(asyncdag("run", broken), 2)
    assert "RuntimeError: no config file" in line
    assert "No module named" in one_error_line(asyncdag("run", "no_such_module_here"), 2)
    assert "no such module file" in one_error_line(asyncdag("list", tmp_path / "gone.py"), 2)


def test_bad_json_and_bad_flags_are_one_line_and_status_2(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.json", "{not json")
    assert "not valid JSON" in one_error_line(asyncdag("run", SHOPS, "--inputs", bad), 2)
    listed = write(tmp_path / "list.json", "[1, 2]")
    assert "JSON object" in one_error_line(asyncdag("run", SHOPS, "--inputs", listed), 2)
    missing = tmp_path / "missing.json"
    assert "cannot read" in one_error_line(asyncdag("run", SHOPS, "--inputs", missing), 2)
    assert "name=value" in one_error_line(asyncdag("run", SHOPS, "--input", "regions"), 2)


def test_an_invalid_graph_is_one_line_and_status_2(tmp_path: Path) -> None:
    module = write(
        tmp_path / "cycle.py",
        "def a(b: int) -> int:\n    return b\ndef b(a: int) -> int:\n    return a\n",
    )
    # a module with a cycle builds (as in Hamilton); a request that needs the cycle fails
    assert "cycle" in one_error_line(asyncdag("run", module, "--final-var", "a"), 2)


def test_a_failing_node_names_node_and_item_with_status_1(tmp_path: Path) -> None:
    module = write(
        tmp_path / "fails.py",
        "from asyncdag.htypes import Collect, Parallelizable\n"
        "def item(n: int) -> Parallelizable[int]:\n    yield from range(n)\n"
        "def inverse(item: int) -> float:\n    return 1 / (item - 2)\n"
        "def total(inverse: Collect[float]) -> float:\n    return sum(inverse)\n",
    )
    line = one_error_line(asyncdag("run", module, "--input-json", "n=5"), 1)
    assert "'inverse'" in line and "(2,)" in line and "ZeroDivisionError" in line


# -- graph and list ----------------------------------------------------------------------------


def test_graph_prints_dot_with_the_blocks_as_clusters() -> None:
    done = asyncdag("graph", SHOPS, "--config", "mode=m")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("digraph asyncdag {")
    assert 'subgraph "cluster_region"' in done.stdout and 'subgraph "cluster_shop"' in done.stdout


def test_graph_of_one_output_in_mermaid_to_a_file(tmp_path: Path) -> None:
    target = tmp_path / "flow.mmd"
    done = asyncdag("graph", SHOPS, "--final-var", "summaries", "-o", target)
    assert done.returncode == 0, done.stderr
    text = target.read_text()
    assert text.startswith("flowchart LR")
    assert "report" not in text and "summaries" in text  # only what the request runs


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot is not installed")
def test_graph_renders_svg(tmp_path: Path) -> None:
    done = asyncdag("graph", SHOPS, "--format", "svg", "-o", tmp_path / "flow.svg")
    assert done.returncode == 0, done.stderr
    assert "<svg" in (tmp_path / "flow.svg").read_text()


def test_list_shows_kinds_types_blocks_and_tags(tmp_path: Path) -> None:
    module = write(
        tmp_path / "tagged.py",
        "from asyncdag.function_modifiers import tag\n"
        "from asyncdag.htypes import Collect, Parallelizable\n"
        "def item(n: int) -> Parallelizable[int]:\n    yield from range(n)\n"
        "@tag(owner='data')\n"
        "async def double(item: int) -> int:\n    return 2 * item\n"
        "def total(double: Collect[int]) -> int:\n    return sum(double)\n",
    )
    done = asyncdag("list", module)
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines()[1:]}
    assert rows["item"][1:] == ["expander", "Parallelizable[int]"]
    assert rows["double"][1:] == ["async", "node", "int", "item", "owner=data"]
    assert rows["total"][1:] == ["collector", "int"]
    assert rows["n"][1:] == ["input", "int"]


# -- what is a node, which file is which module ----------------------------------------------

HELLO = REPO / "examples" / "hello_streaming.py"


def test_an_examples_main_is_not_a_node() -> None:
    done = asyncdag("run", HELLO, "--input", "text=streams of words")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"longest": "STREAMS", "total_length": 14}
    listed = asyncdag("list", HELLO)
    assert listed.returncode == 0, listed.stderr
    names = [line.split()[0] for line in listed.stdout.splitlines()[1:]]
    assert "main" not in names and {"words", "shouted", "longest"} <= set(names)


def test_entry_points_and_marked_functions_are_not_nodes(tmp_path: Path) -> None:
    module = write(
        tmp_path / "script.py",
        "import asyncio, sys\n"
        "__asyncdag_not_nodes__ = ('report',)\n"
        "def doubled(n: int) -> int:\n    return 2 * n\n"
        "def report(doubled: int) -> str:\n    return f'{doubled}'\n"
        "async def serve() -> None:\n    raise RuntimeError('the script, not a node')\n"
        "def main() -> int:\n    return 0\n"
        "if __name__ == '__main__':\n"
        "    def helper() -> None:\n        pass\n"
        "    asyncio.run(serve())\n"
        "    sys.exit(main())\n",
    )
    done = asyncdag("run", module, "--input-json", "n=4")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"doubled": 8}  # not report, serve, main nor helper


def test_a_wrong_not_nodes_marker_is_one_line_and_status_2(tmp_path: Path) -> None:
    typo = write(
        tmp_path / "typo.py",
        "__asyncdag_not_nodes__ = ('mian',)\ndef main() -> int:\n    return 0\n",
    )
    assert "'mian'" in one_error_line(asyncdag("list", typo), 2)
    text = write(tmp_path / "text.py", "__asyncdag_not_nodes__ = 'main'\n")
    assert "tuple of function names" in one_error_line(asyncdag("list", text), 2)


def make_package(root: Path) -> Path:
    package = root / "shop_pkg"
    package.mkdir()
    write(package / "__init__.py", "")
    write(package / "prices.py", "RATE = 3\n")
    return write(
        package / "flow.py",
        "from .prices import RATE\ndef cost(units: int) -> int:\n    return RATE * units\n",
    )


def test_a_file_with_relative_imports_below_the_current_directory(tmp_path: Path) -> None:
    flow = make_package(tmp_path)
    done = asyncdag("run", flow.relative_to(tmp_path), "--input-json", "units=2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"cost": 6}


def test_a_file_with_relative_imports_elsewhere(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    flow = make_package(tmp_path / "elsewhere")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    done = asyncdag("run", flow, "--input-json", "units=5", cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"cost": 15}


def test_the_crawler_dataflow_lists_by_its_path() -> None:
    done = asyncdag("list", "examples/crawler/dataflow.py")
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines()[1:]}
    assert rows["url"][1:3] == ["async", "expander"]


# -- one meaning per flag, strings unless asked --------------------------------------------------


def test_input_values_are_strings_unless_json_is_asked(tmp_path: Path) -> None:
    module = write(tmp_path / "echo.py", "def echo(x: object) -> object:\n    return x\n")
    assert json.loads(asyncdag("run", module, "--input", "x=123").stdout) == {"echo": "123"}
    assert json.loads(asyncdag("run", module, "--input", "x=true").stdout) == {"echo": "true"}
    done = asyncdag("run", module, "--input-json", "x=[1, 2]")
    assert json.loads(done.stdout) == {"echo": [1, 2]}
    line = one_error_line(asyncdag("run", module, "--input-json", "x=oops"), 2)
    assert "--input-json x=oops: not valid JSON" in line and "--input x=" in line


def test_a_string_for_a_typed_input_says_to_use_json(tmp_path: Path) -> None:
    module = write(tmp_path / "typed.py", "def doubled(n: int) -> int:\n    return 2 * n\n")
    line = one_error_line(asyncdag("run", module, "--input", "n=3"), 2)
    assert "'n'" in line and "--input-json" in line
    assert json.loads(asyncdag("run", module, "--input-json", "n=3").stdout) == {"doubled": 6}


def test_config_and_overrides_follow_the_same_rule(tmp_path: Path) -> None:
    module = write(
        tmp_path / "configured.py",
        "from asyncdag.function_modifiers import config\n"
        "@config.when(fast=True)\ndef speed__fast() -> str:\n    return 'fast'\n"
        "@config.when(fast='true')\ndef speed__text() -> str:\n    return 'the string true'\n"
        "def label(speed: str, n: int) -> str:\n    return f'{speed} {n}'\n",
    )
    done = asyncdag("run", module, "--config-json", "fast=true", "--input-json", "n=1")
    assert json.loads(done.stdout) == {"label": "fast 1"}
    done = asyncdag("run", module, "--config", "fast=true", "--input-json", "n=1")
    assert json.loads(done.stdout) == {"label": "the string true 1"}
    done = asyncdag(
        "run", module, "--config-json", "fast=true", "--override", "speed=slow",
        "--input-json", "n=2",
    )  # fmt: skip
    assert json.loads(done.stdout) == {"label": "slow 2"}
    done = asyncdag(
        "run", module, "--config-json", "fast=true", "--override-json", 'speed="x"',
        "--input-json", "n=2", "--final-var", "speed",
    )  # fmt: skip
    assert json.loads(done.stdout) == {"speed": "x"}


def test_output_is_gone_and_says_what_replaced_it() -> None:
    done = asyncdag("run", SHOPS, "--output", "report", *SHOP_ARGS)
    assert done.returncode == 2
    assert "--final-var NAME" in done.stderr and "--output-file" in done.stderr


def test_run_writes_its_results_to_an_output_file(tmp_path: Path) -> None:
    target = tmp_path / "results.json"
    done = asyncdag("run", SHOPS, "--final-var", "report", *SHOP_ARGS, "-o", target)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert json.loads(target.read_text()) == expected("report")
