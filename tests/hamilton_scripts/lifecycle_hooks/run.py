import json
import re
from typing import Any

import functions
from hamilton import driver
from hamilton.lifecycle import (
    GraphConstructionHook,
    GraphExecutionHook,
    NodeExecutionHook,
    NodeExecutionMethod,
    PrintLn,
)

events: list = []
nodes: dict = {}
node_kwargs: dict = {}


class Recorder(NodeExecutionHook, GraphExecutionHook, GraphConstructionHook):
    def run_after_graph_construction(self, *, graph, config: dict, **future_kwargs: Any):
        events.append(("built", sorted(n.name for n in graph.nodes), config))

    def run_before_graph_execution(self, *, final_vars, inputs, execution_path, run_id, **kw):
        events.append(("start", final_vars, inputs, sorted(execution_path)))

    def run_after_graph_execution(self, *, success: bool, results, **kw):
        events.append(("end", success, results))

    def run_before_node_execution(
        self, *, node_name, node_kwargs, node_return_type, node_input_types, task_id, **kw
    ):
        nodes.setdefault(node_name, []).append(
            (
                "before",
                node_return_type.__name__,
                {k: v.__name__ for k, v in node_input_types.items()},
                task_id,
            )
        )
        globals()["node_kwargs"][node_name] = node_kwargs

    def run_after_node_execution(self, *, node_name, result, success, error, **kw):
        nodes.setdefault(node_name, []).append(("after", result, success, error))


class Times10(NodeExecutionMethod):
    def run_to_execute_node(self, *, node_name, node_callable, node_kwargs, **kw):
        value = node_callable(**node_kwargs)
        return value * 10 if node_name == "doubled" else value


lines: list = []
dr = (
    driver.Builder()
    .with_modules(functions)
    .with_config({"mode": "test"})
    .with_adapters(Recorder(), Times10(), PrintLn(print_fn=lines.append))
    .build()
)
result = dr.execute(["described"], inputs={"x": 1})
print(
    json.dumps(
        {
            "result": result,
            "events": events,
            "nodes": nodes,
            "node_kwargs": node_kwargs,
            "printed_nodes": sorted({re.search(r"node: (\w+)", line).group(1) for line in lines}),
            "lines": len(lines),
        },
        sort_keys=True,
        default=str,
    )
)
