"""The ``asyncdag`` command: run a dataflow module, draw it, list its nodes.

::

    asyncdag run my_flow.py --final-var total --input root=docs --input-json top_n=3
    asyncdag run pkg.flows --inputs inputs.json --final-var total --final-var counts --progress
    asyncdag graph my_flow.py --format svg -o flow.svg
    asyncdag list my_flow.py

``MODULE`` is a dotted import path (imported with the current directory on ``sys.path``) or
the path of a ``.py`` file; several modules may be given, as to ``Builder.with_modules``. A
file inside a package (a directory with ``__init__.py``) is imported as a module of that
package, so its relative imports work: by its dotted path from the current directory when it
lies below it (as ``python -m`` would), else from the outermost directory with an
``__init__.py``.

Which functions are nodes: as for ``Builder.with_modules``, every public function the module
defines, except the script's own entry points: the functions that the module's
``if __name__ == "__main__":`` block calls (its ``main()``), and the names the module lists
in ``__asyncdag_not_nodes__`` (a tuple of names). Functions defined inside the ``__main__``
block do not exist when the module is imported, so they are never nodes either.

Values on the command line: ``--input NAME=VALUE`` (and ``--config``, ``--override``) is the
string ``VALUE``, always; ``--input-json NAME=JSON`` (``--config-json``, ``--override-json``)
parses ``JSON`` (``3``, ``[1, 2]``, ``true``, ``"x"``). ``--final-var NAME`` names an output
to compute; ``-o FILE`` / ``--output-file FILE`` is the file to write. Results are printed as
one JSON object; a value JSON cannot hold is printed as its ``repr`` string.

Exit status: 0 on success; 2 when the request is wrong (an import failure, bad JSON, an
unknown output, a missing input, an invalid graph), with one line on stderr; 1 when a node
fails, with the node and the item's index path.
"""

from __future__ import annotations

import argparse
import ast
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

from asyncdag import log_setup, viz
from asyncdag.driver import Builder, Driver
from asyncdag.errors import (
    AsyncDagError,
    ExecutionRequestError,
    GraphError,
    InputTypeError,
    MissingInputError,
)
from asyncdag.execution import executors
from asyncdag.graph._types import describe
from asyncdag.lifecycle import ProgressBar

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
        log_setup.setup_logging(getattr(logging, args.log_level))
    command: Callable[[argparse.Namespace], int] = args.command
    try:
        return command(args)
    except MissingInputError as exc:
        return _fail(f"{exc} On the command line: --input NAME=VALUE or --inputs FILE.", 2)
    except InputTypeError as exc:
        return _fail(
            f"{exc} On the command line, --input NAME=VALUE is a string; --input-json"
            " NAME=JSON gives a number, a list, a boolean...",
            2,
        )
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
    outputs = args.final_var or _sinks(dr)
    _log.info("running %s of %s", ", ".join(outputs), ", ".join(args.modules))
    started = time.perf_counter()
    try:
        results = dr.execute(outputs, inputs=_inputs(args), overrides=_overrides(args))
    finally:
        dr.close()
    _log.info("finished in %.3f s", time.perf_counter() - started)
    text = json.dumps({name: _jsonable(value) for name, value in results.items()}, indent=2)
    if args.output_file is not None:
        pathlib.Path(args.output_file).write_text(text + "\n", encoding="utf-8")
        print(f"wrote {args.output_file}", file=sys.stderr)
    else:
        print(text)
    return 0


def _graph(args: argparse.Namespace) -> int:

    dr = _driver(args)
    final_vars = args.final_var or None
    picture = viz.draw(
        dr,
        args.output_file,
        final_vars=final_vars,
        format=args.format,
        inputs=_inputs(args) if final_vars else None,
        overrides=_overrides(args) if final_vars else None,
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
    modules = [_dataflow(_load_module(spec)) for spec in args.modules]
    config = {**_pairs(args.config, "--config"), **_json_pairs(args.config_json, "--config-json")}
    builder = Builder().with_modules(*modules).with_config(config)
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
            _cwd_importable()
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


def _cwd_importable() -> None:
    """As ``python -m`` would: modules in the current directory are importable."""
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())


def _package_name(path: pathlib.Path) -> tuple[str, pathlib.Path] | None:
    """``(dotted name, directory to import it from)`` for a file inside a package, so that
    its relative imports work; ``None`` for a file that is not in a package."""
    path = path.resolve()
    if not (path.parent / "__init__.py").is_file() or not path.stem.isidentifier():
        return None
    cwd = pathlib.Path.cwd().resolve()
    if path.is_relative_to(cwd):  # below here: as `python -m` names it (namespace dirs too)
        parts = path.relative_to(cwd).with_suffix("").parts
        if all(part.isidentifier() for part in parts):
            return ".".join(parts), cwd
    root = path.parent
    while (root.parent / "__init__.py").is_file() and root.parent.name.isidentifier():
        root = root.parent
    if not root.name.isidentifier():
        return None
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts), root.parent


def _load_file(path: pathlib.Path) -> types.ModuleType:
    if not path.is_file():
        raise _RequestError(f"no such module file: {str(path)!r}")
    packaged = _package_name(path)
    if packaged is not None:
        name, root = packaged
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        return importlib.import_module(name)
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


def _dataflow(module: types.ModuleType) -> types.ModuleType:
    """``module`` without the functions that are not dataflow nodes (see the module doc)."""
    excluded = _entry_points(module) | _marked(module)
    if not excluded:
        return module
    view = types.ModuleType(module.__name__, module.__doc__)
    view.__dict__.update({k: v for k, v in vars(module).items() if k not in excluded})
    _log.info("not nodes in %s: %s", module.__name__, ", ".join(sorted(excluded)))
    return view


def _marked(module: types.ModuleType) -> set[str]:
    names = getattr(module, "__asyncdag_not_nodes__", ())
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise _RequestError(
            f"{module.__name__}.__asyncdag_not_nodes__ must be a tuple of function names,"
            f" not {names!r}"
        )
    unknown = sorted(n for n in names if n not in vars(module))
    if unknown:
        raise _RequestError(
            f"{module.__name__}.__asyncdag_not_nodes__ names {', '.join(map(repr, unknown))},"
            " which the module does not define"
        )
    return set(names)


def _entry_points(module: types.ModuleType) -> set[str]:
    """The module's functions that its ``if __name__ == "__main__":`` block calls."""
    source_file = getattr(module, "__file__", None)
    if not source_file or not source_file.endswith(".py"):
        return set()
    try:
        tree = ast.parse(pathlib.Path(source_file).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return set()
    called: set[str] = set()
    for statement in tree.body:
        if isinstance(statement, ast.If) and _is_main_test(statement.test):
            for sub in statement.body:
                for found in ast.walk(sub):
                    if isinstance(found, ast.Call) and isinstance(found.func, ast.Name):
                        called.add(found.func.id)
    functions = vars(module)
    return {
        name
        for name in called
        if callable(functions.get(name))
        and getattr(functions[name], "__module__", None) == module.__name__
    }


def _is_main_test(test: ast.expr) -> bool:
    """``__name__ == "__main__"``, either way round."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return False
    if not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    texts = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(texts) == 1


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
    values.update(_json_pairs(args.input_json, "--input-json"))
    return values


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {
        **_pairs(args.override, "--override"),
        **_json_pairs(args.override_json, "--override-json"),
    }


def _pairs(items: Sequence[str] | None, flag: str) -> dict[str, str]:
    """``name=value`` flags as a dict of strings, as given."""
    found: dict[str, str] = {}
    for item in items or ():
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise _RequestError(f"{flag} {item!r}: expected name=value")
        found[name] = raw
    return found


def _json_pairs(items: Sequence[str] | None, flag: str) -> dict[str, Any]:
    """``name=JSON`` flags as a dict of parsed values."""
    found: dict[str, Any] = {}
    for name, raw in _pairs(items, flag).items():
        try:
            found[name] = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise _RequestError(
                f"{flag} {name}={raw}: not valid JSON ({exc}); for a plain string use"
                f" {flag.removesuffix('-json')} {name}=..."
            ) from exc
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
            help="a config value, the string VALUE (repeatable)",
        )
        sub.add_argument(
            "--config-json",
            action="append",
            metavar="NAME=JSON",
            help="a config value parsed as JSON: a number, a list, true... (repeatable)",
        )
        sub.add_argument("--output", action=_Gone, nargs="?", help=argparse.SUPPRESS)
        return sub

    def request_options(sub: argparse.ArgumentParser, what: str) -> None:
        sub.add_argument(
            "--final-var", action="append", metavar="NAME", help=f"{what} (repeatable)"
        )
        sub.add_argument("--inputs", metavar="FILE", help="a JSON file of input values")
        sub.add_argument(
            "--input",
            action="append",
            metavar="NAME=VALUE",
            help="an input value, the string VALUE (repeatable)",
        )
        sub.add_argument(
            "--input-json",
            action="append",
            metavar="NAME=JSON",
            help="an input value parsed as JSON: a number, a list, true... (repeatable)",
        )
        sub.add_argument(
            "--override",
            action="append",
            metavar="NAME=VALUE",
            help="a node's value, the string VALUE, given instead of computed (repeatable)",
        )
        sub.add_argument(
            "--override-json",
            action="append",
            metavar="NAME=JSON",
            help="a node's value parsed as JSON, given instead of computed (repeatable)",
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
    run.add_argument(
        "-o", "--output-file", metavar="FILE", help="write the results' JSON here, not to stdout"
    )

    graph = command("graph", "draw a module's graph (Parallelizable blocks as clusters)", _graph)
    request_options(graph, "draw only what computing this output runs")
    graph.add_argument(
        "--format", choices=_FORMATS, help="default: from the output file's suffix, else dot"
    )
    graph.add_argument("-o", "--output-file", metavar="FILE", help="write here, not to stdout")
    graph.add_argument("--orient", choices=("LR", "TB", "RL", "BT"), default="LR")
    graph.add_argument("--hide-inputs", action="store_true", help="leave inputs out")
    graph.add_argument("--no-legend", action="store_true", help="leave the legend out (DOT)")

    command("list", "list a module's nodes and inputs with their types and tags", _list)
    return parser


class _Gone(argparse.Action):
    """``--output`` once named an output and read like a file; say what replaced it."""

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        parser.error(
            "--output is ambiguous and no longer accepted: --final-var NAME computes an"
            " output, -o/--output-file FILE writes to a file"
        )


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
