"""The ``asyncdag`` command: run a dataflow module, draw it, list its nodes.

::

    asyncdag run my_flow.py --output total --input site='{"a": "x y"}' --executor threads
    asyncdag run pkg.flows --inputs inputs.json --output total --output counts --progress
    asyncdag graph my_flow.py --format svg -o flow.svg
    asyncdag list my_flow.py

``MODULE`` is a dotted import path (imported with the current directory on ``sys.path``) or
the path of a ``.py`` file; several modules may be given, as to ``Builder.with_modules``.
A ``name=value`` value is read as JSON when it parses (``3``, ``[1, 2]``, ``"x"``, ``true``),
else as a plain string. Results are printed as one JSON object; a value JSON cannot hold is
printed as its ``repr`` string.

Exit status: 0 on success; 2 when the request is wrong (an import failure, bad JSON, an
unknown output, a missing input, an invalid graph), with one line on stderr; 1 when a node
fails, with the node and the item's index path.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import logging
import os
import pathlib
import sys
import time
import types
from collections.abc import Callable, Sequence
from typing import Any

from asyncdag.driver import Builder, Driver
from asyncdag.errors import AsyncDagError, ExecutionRequestError, GraphError, MissingInputError
from asyncdag.execution import executors

__all__ = ["main"]

_log = logging.getLogger("asyncdag.cli")

_EXECUTORS = ("asyncio", "threads", "processes", "inline")
_FORMATS = ("dot", "mermaid", "svg", "png")


class _RequestError(Exception):
    """Something in the command line is wrong: exit 2 with this message."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``asyncdag`` command with ``argv`` (default ``sys.argv[1:]``); the exit status."""
    args = _parser().parse_args(argv)
    if args.log_level:
        from asyncdag import log_setup

        log_setup.setup_logging(getattr(logging, args.log_level))
    command: Callable[[argparse.Namespace], int] = args.command
    try:
        return command(args)
    except MissingInputError as exc:
        return _fail(f"{exc} On the command line: --input NAME=VALUE or --inputs FILE.", 2)
    except (_RequestError, ExecutionRequestError, GraphError) as exc:
        return _fail(str(exc), 2)
    except AsyncDagError as exc:  # a node failed, a worker died, a value would not pickle
        cause = exc.__cause__
        detail = str(exc)
        if cause is not None and str(cause) not in detail:
            detail += f" ({type(cause).__name__}: {cause})"
        return _fail(detail, 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except BrokenPipeError:  # `asyncdag run ... | head`: the reader left, which is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 0


def _fail(message: str, status: int) -> int:
    print(f"asyncdag: error: {message}", file=sys.stderr)
    return status


# -- the commands ---------------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    hooks = _progress_hooks() if args.progress else None
    dr = _driver(
        args,
        executor=args.executor,
        max_tasks=args.max_tasks,
        window=args.window,
        adapters=() if hooks is None else (hooks,),
    )
    outputs = args.output or _sinks(dr)
    _log.info("running %s of %s", ", ".join(outputs), ", ".join(args.modules))
    started = time.perf_counter()
    try:
        results = dr.execute(
            outputs, inputs=_inputs(args), overrides=_pairs(args.override, "--override")
        )
    finally:
        dr.close()
    _log.info("finished in %.3f s", time.perf_counter() - started)
    print(json.dumps({name: _jsonable(value) for name, value in results.items()}, indent=2))
    return 0


def _graph(args: argparse.Namespace) -> int:
    from asyncdag import viz

    dr = _driver(args)
    final_vars = args.output or None
    picture = viz.draw(
        dr,
        args.output_file,
        final_vars=final_vars,
        format=args.format,
        inputs=_inputs(args) if final_vars else None,
        overrides=_pairs(args.override, "--override") if final_vars else None,
        orient=args.orient,
        hide_inputs=args.hide_inputs,
        show_legend=not args.no_legend,
        bypass_validation=True,  # draw the request even without its inputs
    )
    if args.output_file is not None:
        print(f"wrote {args.output_file}", file=sys.stderr)
    elif isinstance(picture, bytes):
        sys.stdout.buffer.write(picture)
    else:
        sys.stdout.write(picture)
    return 0


def _list(args: argparse.Namespace) -> int:
    from asyncdag.graph._types import describe

    dr = _driver(args)
    rows = [("NAME", "KIND", "TYPE", "BLOCK", "TAGS")]
    for var in dr.list_available_variables():
        if var.is_external_input:
            kind = "config" if var.name in dr.graph.config else "input"
            block = ""
        else:
            kind = {"expand": "expander", "collect": "collector"}.get(var.role, "node")
            if dr.graph.nodes[var.name].is_async:
                kind = f"async {kind}"
            block = " > ".join(dr.graph.scopes.get(var.name, ()))
        type_text = describe(var.type)
        if var.role == "expand":
            type_text = f"Parallelizable[{type_text}]"
        tags = ", ".join(f"{k}={v}" for k, v in var.tags.items() if k != "module")
        rows.append((var.name, kind, type_text, block, tags))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


# -- building the driver --------------------------------------------------------------------


def _driver(
    args: argparse.Namespace,
    *,
    executor: str = "asyncio",
    max_tasks: int | None = None,
    window: int | None = None,
    adapters: Sequence[Any] = (),
) -> Driver:
    modules = [_load_module(spec) for spec in args.modules]
    builder = Builder().with_modules(*modules).with_config(_pairs(args.config, "--config"))
    if executor != "asyncio" or max_tasks is not None:
        builder = _with_executor(builder, executor, max_tasks)
    if window is not None:
        builder = builder.with_window(window)
    if adapters:
        builder = builder.with_adapters(*adapters)
    return builder.build()


def _with_executor(builder: Builder, name: str, max_tasks: int | None) -> Builder:
    if name == "inline":
        inline = executors.SynchronousLocalTaskExecutor()
        return builder.with_local_executor(inline).with_remote_executor(inline)
    if name == "threads":
        threads = executors.MultiThreadingExecutor(**_max(max_tasks))
        return builder.with_local_executor(threads).with_remote_executor(threads)
    if name == "processes":
        return builder.with_remote_executor(executors.MultiProcessingExecutor(**_max(max_tasks)))
    return builder.with_local_executor(executors.AsyncioExecutor(**_max(max_tasks)))


def _max(max_tasks: int | None) -> dict[str, int]:
    return {} if max_tasks is None else {"max_tasks": max_tasks}


def _load_module(spec: str) -> types.ModuleType:
    """Import a dotted module path, or load a ``.py`` file as a module."""
    try:
        if spec.endswith(".py") or os.sep in spec or "/" in spec:
            module = _load_file(pathlib.Path(spec))
        else:
            # as `python -m` would: modules in the current directory are importable
            if os.getcwd() not in sys.path and "" not in sys.path:
                sys.path.insert(0, os.getcwd())
            module = importlib.import_module(spec)
    except _RequestError:
        raise
    except Exception as exc:  # the user's module failed to import: say so in one line
        raise _RequestError(f"cannot import {spec!r}: {type(exc).__name__}: {exc}") from exc
    # its functions travel to process and cluster workers by value, so a worker need not be
    # able to import the module (a file path, or a module only on this sys.path)
    import cloudpickle

    cloudpickle.register_pickle_by_value(module)
    return module


def _load_file(path: pathlib.Path) -> types.ModuleType:
    if not path.is_file():
        raise _RequestError(f"no such module file: {str(path)!r}")
    name = path.stem if path.stem.isidentifier() else "_asyncdag_module"
    while name in sys.modules:  # never shadow an imported module (a file called json.py)
        name = f"_{name}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise _RequestError(f"cannot load {str(path)!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    # as `python file.py` would: the file's siblings are importable
    sys.path.insert(0, str(path.resolve().parent))
    spec.loader.exec_module(module)
    return module


# -- inputs and results ---------------------------------------------------------------------


def _inputs(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if args.inputs is not None:
        try:
            text = pathlib.Path(args.inputs).read_text(encoding="utf-8")
        except OSError as exc:
            raise _RequestError(f"cannot read inputs file {args.inputs!r}: {exc}") from exc
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _RequestError(f"inputs file {args.inputs!r} is not valid JSON: {exc}") from exc
        if not isinstance(loaded, dict):
            raise _RequestError(
                f"inputs file {args.inputs!r} must hold a JSON object of name: value,"
                f" not a {type(loaded).__name__}"
            )
        values.update(loaded)
    values.update(_pairs(args.input, "--input"))
    return values


def _pairs(items: Sequence[str] | None, flag: str) -> dict[str, Any]:
    """``name=value`` flags as a dict; a value is JSON when it parses, else a string."""
    found: dict[str, Any] = {}
    for item in items or ():
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise _RequestError(f"{flag} {item!r}: expected name=value")
        try:
            found[name] = json.loads(raw)
        except json.JSONDecodeError:
            found[name] = raw
    return found


def _sinks(dr: Driver) -> list[str]:
    """The nodes nothing else reads: what a run computes when no --output is given."""
    read = {dep.name for node in dr.graph.nodes.values() for dep in node.dependencies}
    return [name for name in dr.graph.order if name not in read]


def _jsonable(value: Any) -> Any:
    """``value`` itself when JSON can hold it (sets as lists), else its ``repr``."""

    def fallback(obj: Any) -> Any:
        if isinstance(obj, set | frozenset):
            return sorted(obj, key=repr)
        return repr(obj)

    try:
        return json.loads(json.dumps(value, default=fallback, allow_nan=False))
    except (TypeError, ValueError):
        return repr(value)


def _progress_hooks() -> Any:
    """The progress bar, drawn on stderr (results go to stdout)."""
    from asyncdag.lifecycle import ProgressBar

    return ProgressBar("tasks")


# -- the parser ------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asyncdag",
        description="Run, draw and list asyncdag dataflow modules.",
        allow_abbrev=False,
    )
    parser.add_argument(
        "--log-level",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="show asyncdag's log records at this level and above on stderr",
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    def command(name: str, help: str, fn: Callable[[argparse.Namespace], int]) -> Any:
        sub = commands.add_parser(name, help=help, description=help, allow_abbrev=False)
        sub.set_defaults(command=fn)
        sub.add_argument(
            "modules",
            nargs="+",
            metavar="MODULE",
            help="a dotted module path or a .py file; several build one graph",
        )
        sub.add_argument(
            "--config",
            action="append",
            metavar="NAME=VALUE",
            help="a config value (repeatable); VALUE is JSON when it parses, else a string",
        )
        return sub

    def request_options(sub: argparse.ArgumentParser, what: str) -> None:
        sub.add_argument("--output", action="append", metavar="NAME", help=f"{what} (repeatable)")
        sub.add_argument("--inputs", metavar="FILE", help="a JSON file of input values")
        sub.add_argument(
            "--input", action="append", metavar="NAME=VALUE", help="an input value (repeatable)"
        )
        sub.add_argument(
            "--override",
            action="append",
            metavar="NAME=VALUE",
            help="a node's value, given instead of computed (repeatable)",
        )

    run = command("run", "run a module's outputs and print them as JSON", _run)
    request_options(run, "an output to compute; default: every node nothing else reads")
    run.add_argument(
        "--executor",
        choices=_EXECUTORS,
        default="asyncio",
        help="asyncio (default): coroutines, sync code on threads; threads: a thread pool;"
        " processes: Parallelizable blocks in worker processes; inline: one at a time",
    )
    run.add_argument("--max-tasks", type=_positive, metavar="N", help="tasks run at once")
    run.add_argument(
        "--window", type=_positive, metavar="N", help="items an expansion may run ahead"
    )
    run.add_argument("--progress", action="store_true", help="show a progress bar on stderr")

    graph = command("graph", "draw a module's graph (Parallelizable blocks as clusters)", _graph)
    request_options(graph, "draw only what computing this output runs")
    graph.add_argument("--format", choices=_FORMATS, help="default: from -o's suffix, else dot")
    graph.add_argument("-o", "--output-file", metavar="FILE", help="write here, not to stdout")
    graph.add_argument("--orient", choices=("LR", "TB", "RL", "BT"), default="LR")
    graph.add_argument("--hide-inputs", action="store_true", help="leave inputs out")
    graph.add_argument("--no-legend", action="store_true", help="leave the legend out (DOT)")

    command("list", "list a module's nodes and inputs with their types and tags", _list)
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
