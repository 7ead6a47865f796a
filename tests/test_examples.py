"""Every example in examples/ runs, so the README never shows broken code."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).parent.parent / "examples"
SCRIPTS = sorted(p for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_example_runs(script: pathlib.Path) -> None:
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip(), "an example should show its result"


def test_readme_snippet_runs(tmp_path: pathlib.Path) -> None:
    """The README's first example, extracted and run as a user would paste it."""
    readme = (pathlib.Path(__file__).parent.parent / "README.md").read_text()
    start = readme.index("<!-- first-example -->")
    block = readme[start:].split("```python\n", 1)[1].split("```", 1)[0]
    script = tmp_path / "first.py"
    script.write_text(block)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "total_words" in done.stdout


def test_every_readme_python_block_compiles() -> None:
    """Snippets that are not run (they need a network or a cluster) at least parse."""
    import ast

    readme = (pathlib.Path(__file__).parent.parent / "README.md").read_text()
    blocks = [part.split("```", 1)[0] for part in readme.split("```python\n")[1:]]
    assert len(blocks) >= 3
    for block in blocks:
        compile(block, "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
