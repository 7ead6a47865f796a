"""The package's imports run one way.

- Every module imports on its own, first, in a fresh interpreter: a cycle that only breaks
  when entered from one side shows up here.
- No import cycle between asyncdag's modules, counting imports written inside functions and
  type-only imports (``if TYPE_CHECKING:``) alike, read from the source.
- No function imports an asyncdag module (lazy imports are for optional dependencies).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "asyncdag"


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[str, int, bool]]:
    """(imported asyncdag module, line, inside a function) for every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            targets: list[str] = []
            if isinstance(child, ast.Import):
                targets = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    up = package.split(".")
                    up = up[: len(up) - (child.level - 1)]
                    base = ".".join([*up, base] if base else up)
                targets = [base] + [f"{base}.{alias.name}" for alias in child.names]
            for target in targets:
                while target and target not in MODULES:
                    target = target.rpartition(".")[0]
                if target and target != name and target.startswith("asyncdag"):
                    out.append((target, child.lineno, in_function))
            visit(child, nested)

    visit(tree, False)
    return out


#: runs in a fresh interpreter: import the heavy third-party libraries once (never asyncdag),
#: then fork one child per module, which imports that module first and nothing else of ours
_FORKER = """
import importlib, os, sys, traceback
for lib in sys.argv[1].split(","):
    try:
        importlib.import_module(lib)
    except Exception:
        pass
assert not any(m == "asyncdag" or m.startswith("asyncdag.") for m in sys.modules)
running, failed = {}, 0
names = sys.argv[2].split(",")
while names or running:
    while names and len(running) < 4:
        name = names.pop()
        pid = os.fork()
        if pid == 0:
            try:
                importlib.import_module(name)
            except BaseException:
                traceback.print_exc()
                os._exit(1)
            os._exit(0)
        running[pid] = name
    pid, status = os.wait()
    name = running.pop(pid)
    if status != 0:
        failed += 1
        print("FAILED", name, flush=True)
sys.exit(1 if failed else 0)
"""
_HEAVY = ",".join(
    ["ray", "distributed", "dask", "pandas", "numpy", "opentelemetry.sdk.trace", "aiohttp"]
    + ["rich", "uvloop", "anyio", "cloudpickle"]
)


def test_every_module_imports_first_in_a_fresh_interpreter() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _FORKER, _HEAVY, ",".join(MODULES)],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=PACKAGE.parent,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-5000:]


def test_no_import_cycle_between_modules_of_the_package() -> None:
    graph = {name: {t for t, _, _ in _imports(name, path)} for name, path in MODULES.items()}
    # a package's __init__ re-exports its submodules: that edge is not a cycle by itself
    for name in graph:
        graph[name] = {t for t in graph[name] if not t.startswith(name + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            walk(name)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_no_function_imports_an_asyncdag_module() -> None:
    inside = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}"
        for name, path in MODULES.items()
        for target, line, in_function in _imports(name, path)
        if in_function
    ]
    assert not inside, "\n".join(inside)
