"""The README's Hamilton port example runs as a user would paste it."""

from __future__ import annotations

import pathlib
import subprocess
import sys


def test_the_hamilton_port_example_runs(tmp_path: pathlib.Path) -> None:
    readme = (pathlib.Path(__file__).parent.parent / "README.md").read_text()
    start = readme.index("<!-- hamilton-port -->")
    block = readme[start:].split("```python\n", 1)[1].split("```", 1)[0]
    script = tmp_path / "port.py"
    script.write_text(block)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0] == "[10.0, 5.0] None"
    assert lines[1] == "['spend_per_signup', 'risky']"
