"""The README's caching example runs as a user would paste it, and says what it claims."""

from __future__ import annotations

import contextlib
import io
import os
import pathlib
import sys
import types

from asyncdag.caching._store import forget_stores


def test_readme_caching_example_runs(tmp_path: pathlib.Path) -> None:
    readme = (pathlib.Path(__file__).parent.parent / "README.md").read_text()
    start = readme.index("<!-- caching-example -->")
    block = readme[
        readme.index("```python", start) + len("```python") : readme.index("```\n", start + 30)
    ]
    old = os.getcwd()
    os.chdir(tmp_path)  # the example's .asyncdag_cache lands here
    out = io.StringIO()
    try:
        module = types.ModuleType("readme_caching")
        sys.modules[module.__name__] = module
        with contextlib.redirect_stdout(out):
            exec(compile(block, "README.md", "exec"), module.__dict__)
    finally:
        os.chdir(old)
        sys.modules.pop("readme_caching", None)
        forget_stores()
    assert out.getvalue().strip().splitlines() == [
        "Counter({'url': 1, 'page': 1, 'size': 1, 'total': 1, 'report': 1})",
        "i42 ['0', '1', '2']",
    ]
    drawn = (tmp_path / "last_run.dot").read_text()
    assert '"page" [label="page\\nasync str\\n2 from cache, 1 run"' in drawn, drawn
    assert (tmp_path / ".asyncdag_cache" / "asyncdag_cache.db").exists()
