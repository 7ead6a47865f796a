"""Hamilton-style scripts run unchanged after the import rename, with Hamilton's outputs.

Each folder of ``tests/hamilton_scripts`` is written for Hamilton. It is copied twice: one copy
runs on Hamilton as it is; in the other, ``hamilton`` becomes ``asyncdag`` in the imports (and
nothing else). Both ``run.py`` run as a user runs them, ``python run.py`` in the folder, and
the JSON line each prints last must be the same.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SCRIPTS = Path(__file__).parent / "hamilton_scripts"
SHAPES = sorted(p.name for p in SCRIPTS.iterdir() if (p / "run.py").exists())
_IMPORT = re.compile(r"^(\s*)(from|import)(\s+)hamilton\b", re.M)


def renamed(source: str) -> str:
    """What a user does to port a script: ``hamilton`` -> ``asyncdag`` in its imports."""
    return _IMPORT.sub(r"\1\2\3asyncdag", source)


def copy_shape(shape: str, where: Path, rename: bool) -> Path:
    target = where / ("asyncdag" if rename else "hamilton") / shape
    shutil.copytree(SCRIPTS / shape, target, ignore=shutil.ignore_patterns("__pycache__"))
    if rename:
        for path in target.rglob("*.py"):
            path.write_text(renamed(path.read_text()))
    return target


def run_script(folder: Path, *args: str) -> Any:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "run.py", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, f"{folder}: exit {done.returncode}\n{done.stderr[-4000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_rename_touches_imports_only() -> None:
    source = "from hamilton import base\nimport hamilton.driver\nx = 'hamilton.data_loader'\n"
    assert renamed(source) == (
        "from asyncdag import base\nimport asyncdag.driver\nx = 'hamilton.data_loader'\n"
    )


@pytest.mark.parametrize("shape", SHAPES)
def test_a_hamilton_script_gives_hamilton_s_output(shape: str, tmp_path: Path) -> None:
    on_asyncdag = copy_shape(shape, tmp_path, rename=True)
    assert "hamilton" not in "".join(
        line
        for p in on_asyncdag.rglob("*.py")
        for line in p.read_text().splitlines()
        if line.lstrip().startswith(("from ", "import "))
    )
    expected = run_script(copy_shape(shape, tmp_path, rename=False))
    got = run_script(on_asyncdag)
    assert got == expected
