"""Hamilton-style hooks and adapters on asyncdag's lifecycle events.

Hooks with Hamilton's base classes, and hooks written without them, get Hamilton's keyword
arguments; ``run_to_execute_node`` replaces node calls wherever nodes run;
``GracefulErrorAdapter`` carries sentinels through Parallelizable blocks (sync and async, as
Hamilton's cannot); static validators and edge/input checks act at build and request time.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hamilton import driver as h_driver
from hamilton.lifecycle import default as h_default

from asyncdag import ad_hoc_utils, driver
from asyncdag.errors import GraphError, HookError, InputTypeError, TypeMismatchError
from asyncdag.execution import executors
from asyncdag.execution.grouping import NodeGroupPurpose
from asyncdag.htypes import Collect, Parallelizable
from asyncdag.lifecycle import api, default
from asyncdag.plugins import h_rich, h_threadpool, h_tqdm


def _blocks() -> Any:
    def item(n: int) -> Parallelizable[int]:
        yield from range(n)

    def squared(item: int) -> int:
        if item == 2:
            raise ValueError("two is not welcome")
        return item * item

    def labelled(squared: int) -> str:
        return f"<{squared}>"

    def gathered(labelled: Collect[str]) -> list:
        return labelled

    return ad_hoc_utils.create_temporary_module(item, squared, labelled, gathered)


class NoBaseClass:
    """A Hamilton-style hook written without Hamilton's base classes."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any, Any]] = []

    def run_before_node_execution(self, *, node_name: str, node_return_type: Any, task_id: Any):
        self.seen.append(("before", node_name, node_return_type))

    def run_after_node_execution(self, *, node_name: str, success: bool, result: Any):
        self.seen.append(("after", node_name, result if success else "failed"))


def test_a_hook_without_base_class_gets_the_keywords_it_names() -> None:
    def one() -> int:
        return 1

    hook = NoBaseClass()
    dr = (
        driver.Builder()
        .with_modules(ad_hoc_utils.create_temporary_module(one))
        .with_adapters(hook)
        .build()
    )
    assert dr.execute(["one"]) == {"one": 1}
    assert hook.seen == [("before", "one", int), ("after", "one", 1)]


class Tasks(
    api.TaskExecutionHook, api.TaskSubmissionHook, api.TaskReturnHook, api.TaskGroupingHook
):
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def run_before_task_execution(self, *, task_id, nodes, purpose, spawning_task_id, **kw):
        self.events.append(("start", task_id, sorted(n.name for n in nodes), purpose))

    def run_after_task_execution(self, *, task_id, success, results, **kw):
        self.events.append(("end", task_id, success, results))

    def run_before_task_submission(self, *, task_id, **kw):
        self.events.append(("submit", task_id))

    def run_after_task_return(self, *, task_id, success, **kw):
        self.events.append(("return", task_id, success))

    def run_after_task_grouping(self, *, run_id, task_ids, **kw):
        raise AssertionError("not called: tasks are made one by one as items stream")

    def run_after_task_expansion(self, *, task_id, parameters, **kw):
        self.events.append(("expanded", task_id, len(parameters)))


def test_task_hooks_see_every_block_instance() -> None:
    tasks = Tasks()
    graceful = default.GracefulErrorAdapter(error_to_catch=ValueError)
    dr = driver.Builder().with_modules(_blocks()).with_adapters(graceful, tasks).build()
    assert dr.execute(["gathered"], inputs={"n": 4}) == {"gathered": ["<0>", "<1>", None, "<9>"]}
    starts = [e for e in tasks.events if e[0] == "start"]
    assert [e[1] for e in starts] == ["0", "1", "2", "3"]
    assert {tuple(e[2]) for e in starts} == {("labelled", "squared")}
    assert {e[3] for e in starts} == {NodeGroupPurpose.EXECUTE_BLOCK}
    assert sorted(e[1] for e in tasks.events if e[0] == "submit") == ["0", "1", "2", "3"]
    assert sorted(e[1] for e in tasks.events if e[0] == "return") == ["0", "1", "2", "3"]
    assert ("expanded", "item", 4) in tasks.events


GRACEFUL = """
from {lib}.htypes import Collect, Parallelizable
from {lib}.lifecycle.default import accept_error_sentinels


def start_point() -> Parallelizable[int]:
    for i in range(5):
        if i == 3:
            raise ValueError("no more")
        yield i


def inner(start_point: int) -> int:
    if start_point == 1:
        raise ValueError("one fails")
    return start_point * 10


@accept_error_sentinels
def noted(inner: int) -> str:
    return "missing" if inner is None else str(inner)


def gather(noted: Collect[str]) -> list:
    return noted


def plain(gather: list) -> int:
    return len(gather)
"""


def _graceful_module(lib: str) -> Any:
    """The same dataflow on one library (its imports name ``lib``)."""
    return ad_hoc_utils.module_from_source(GRACEFUL.format(lib=lib))


@pytest.mark.parametrize("try_all_parallel", [True, False])
def test_graceful_errors_in_blocks_match_hamilton(try_all_parallel: bool) -> None:
    ours = (
        driver.Builder()
        .with_modules(_graceful_module("asyncdag"))
        .with_adapters(default.GracefulErrorAdapter(ValueError, try_all_parallel=try_all_parallel))
        .build()
    )
    theirs = (
        h_driver.Builder()
        .enable_dynamic_execution(allow_experimental_mode=True)
        .with_modules(_graceful_module("hamilton"))
        .with_adapters(
            h_default.GracefulErrorAdapter(ValueError, try_all_parallel=try_all_parallel)
        )
        .build()
    )
    assert ours.execute(["gather", "plain"]) == theirs.execute(["gather", "plain"])


def test_graceful_errors_with_async_nodes_and_async_generators() -> None:
    """Hamilton's adapter cannot wrap async nodes: compared with the plain-Python answer."""

    async def source(n: int) -> Parallelizable[int]:
        for i in range(n):
            if i == 3:
                raise ValueError("stream broke")
            await asyncio.sleep(0)
            yield i

    async def fetched(source: int) -> int:
        if source == 0:
            raise ValueError("first fails")
        return source + 100

    def shown(fetched: int) -> str:
        return str(fetched)

    def all_shown(shown: Collect[str]) -> list:
        return shown

    module = ad_hoc_utils.create_temporary_module(source, fetched, shown, all_shown)
    dr = (
        driver.Builder()
        .with_modules(module)
        .with_adapters(default.GracefulErrorAdapter(ValueError, sentinel_value="-"))
        .build()
    )
    got = asyncio.run(dr.aexecute(["all_shown"], inputs={"n": 6}))
    assert got == {"all_shown": ["-", "101", "102", "-"]}


def test_other_errors_still_fail_the_run() -> None:
    def boom() -> int:
        raise KeyError("k")

    dr = (
        driver.Builder()
        .with_modules(ad_hoc_utils.create_temporary_module(boom))
        .with_adapters(default.GracefulErrorAdapter(ValueError))
        .build()
    )
    with pytest.raises(KeyError):
        dr.execute(["boom"])


def test_run_to_execute_node_runs_where_the_node_runs() -> None:
    class Marked(api.NodeExecutionMethod):
        def run_to_execute_node(self, *, node_name, node_callable, node_kwargs, is_expand, **kw):
            value = node_callable(**node_kwargs)
            return value if is_expand else (node_name, value)

    def item(n: int) -> Parallelizable[int]:
        yield from range(n)

    def pair(item: int) -> int:
        return item

    def pairs(pair: Collect[Any]) -> list:
        return pair

    module = ad_hoc_utils.create_temporary_module(item, pair, pairs)
    for remote in (executors.MultiThreadingExecutor(2), executors.MultiProcessingExecutor(2)):
        dr = (
            driver.Builder()
            .with_modules(module)
            .with_remote_executor(remote)
            .with_adapters(Marked())
            .build()
        )
        with dr:
            result = dr.execute(["pairs"], inputs={"n": 2})
        assert result == {"pairs": ("pairs", [("pair", 0), ("pair", 1)])}


def test_println_reports_every_node() -> None:
    lines: list[str] = []
    dr = (
        driver.Builder()
        .with_modules(_blocks())
        .with_adapters(default.PrintLn(verbosity=2, print_fn=lines.append, node_filter=["item"]))
        .build()
    )
    dr.execute(["gathered"], inputs={"n": 2})
    assert lines[0].startswith("Executing node: item.")
    assert lines[-1].startswith("Finished node: item") and "Status: Success" in lines[-1]
    with pytest.raises(ValueError, match="verbosity"):
        default.PrintLn(verbosity=3)


def test_a_static_validator_fails_the_build() -> None:
    class NeedsDocs(api.StaticValidator):
        def run_to_validate_node(self, *, node, **kw):
            return (bool(node.documentation), "add a docstring")

    def documented() -> int:
        """Has one."""
        return 1

    def bare() -> int:
        return 2

    module = ad_hoc_utils.create_temporary_module(documented, bare)
    with pytest.raises(api.ValidationException, match="bare: add a docstring") as info:
        driver.Builder().with_modules(module).with_adapters(NeedsDocs()).build()
    assert isinstance(info.value, GraphError)


def test_edge_and_input_checks_can_be_turned_off() -> None:
    def text() -> str:
        return "3"

    def number(text: int, given: int) -> str:
        return f"{text}{given}"

    module = ad_hoc_utils.create_temporary_module(text, number)
    with pytest.raises(TypeMismatchError):
        driver.Builder().with_modules(module).build()
    lenient = default.NoEdgeAndInputTypeChecking()
    dr = driver.Builder().with_modules(module).with_adapters(lenient).build()
    assert dr.execute(["number"], inputs={"given": "4"}) == {"number": "34"}
    alone = ad_hoc_utils.create_temporary_module(number)
    with pytest.raises(InputTypeError):
        driver.Builder().with_modules(alone).build().execute(
            ["number"], inputs={"text": "3", "given": 1}
        )


def test_the_type_checker_hook_refuses_a_wrong_result() -> None:
    def wrong() -> int:
        return "not an int"  # type: ignore[return-value]

    dr = (
        driver.Builder()
        .with_modules(ad_hoc_utils.create_temporary_module(wrong))
        .with_adapters(default.FunctionInputOutputTypeChecker())
        .build()
    )
    with pytest.raises(HookError) as info:
        dr.execute(["wrong"])
    assert isinstance(info.value.__cause__, TypeError) and "wrong" in str(info.value.__cause__)
    assert info.value.adapter == "FunctionInputOutputTypeChecker"  # the user's adapter


def test_graph_construction_hooks_run_for_the_legacy_constructor() -> None:
    seen: list[Any] = []

    class Built(api.GraphConstructionHook):
        def run_after_graph_construction(self, *, graph, config, **kw):
            seen.append((sorted(v.name for v in graph.nodes), config))

    def one(k: int) -> int:
        return k

    driver.Driver({"k": 1}, ad_hoc_utils.create_temporary_module(one), adapter=[Built()])
    assert seen == [(["k", "one"], {"k": 1})]


def test_the_thread_pool_adapter_runs_independent_nodes_together() -> None:
    barrier = __import__("threading").Barrier(2, timeout=20)

    def left() -> str:
        barrier.wait()
        return "l"

    def right() -> str:
        barrier.wait()
        return "r"

    def both(left: str, right: str) -> str:
        return left + right

    module = ad_hoc_utils.create_temporary_module(left, right, both)
    dr = driver.Builder().with_modules(module).with_adapters(h_threadpool.FutureAdapter()).build()
    with dr:
        assert dr.execute(["both"]) == {"both": "lr"}


@pytest.mark.parametrize("bar", [h_rich.RichProgressBar(), h_tqdm.ProgressBar(desc="dag")])
def test_hamilton_s_progress_bars_count_nodes_and_items(bar: Any) -> None:
    import io

    bar._stream = io.StringIO()
    module = _graceful_module("asyncdag")
    dr = (
        driver.Builder()
        .with_modules(module)
        .with_adapters(default.GracefulErrorAdapter(ValueError), bar)
        .build()
    )
    dr.execute(["plain"])
    state = bar.state()
    # nodes outside blocks: start_point, gather, plain; block instances: 4 items
    assert state.done == 3 + 4 and state.failed == 0


PDB_SCRIPT = """
from asyncdag import ad_hoc_utils, driver
from asyncdag.lifecycle import default


def a() -> int:
    return 1


def b(a: int) -> int:
    return a + 1


module = ad_hoc_utils.create_temporary_module(a, b)
debugger = default.PDBDebugger(node_filter="b", before=True, during=True, after=True)
dr = driver.Builder().with_modules(module).with_adapters(debugger).build()
print("RESULT", dr.execute(["b"]), default.PDBDebugger.CONTEXT["node_name"])
"""


def test_the_debugger_stops_before_during_and_after_the_chosen_node(tmp_path: Any) -> None:
    import subprocess
    import sys

    script = tmp_path / "debug.py"
    script.write_text(PDB_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script)],
        input="c\nc\nc\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("(Pdb)") == 3  # before, during (runcall), after: node b only
    assert "RESULT {'b': 2} b" in done.stdout
