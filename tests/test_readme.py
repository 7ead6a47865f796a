"""Every ``python`` and ``sh`` block of README.md runs as shown.

Each block runs in a fresh copy of the project (its tracked and unignored files) in a
temporary directory, with the project's virtualenv first on ``PATH`` — as a user who pasted it
into a shell at the root of a checkout after ``make test``. A Python block runs as a script
at the copy's root; a shell block runs under ``bash -euo pipefail``. A block fails the test
when it exits non-zero; after a ``print(...)`` line, a comment line (``# {'total': 6}``) is
what that print must show.

What a block cannot do on a test machine — serve forever, reach the network, re-run this very
suite — is said by a marker comment right above the block, invisible on the rendered page::

    <!-- readme-test: background="python -m examples.webapp"; ready="serving on"; port=8000 -->

Markers (``;``-separated, ``key=value`` or ``key="value with spaces"``):

- ``session=NAME``: Python blocks of one session run as one script, in README order (a
  later block uses what an earlier one defined).
- ``files=a,b``: copy ``tests/readme_files/a`` (and ``b``) into the directory first: a
  stand-in for the reader's own files (``my_flow.py``, ``urls.txt``).
- ``site=URL``: start the crawler example's embedded site (``python -m
  examples.crawler.site``) on 127.0.0.1 and replace ``URL`` with its address, in the block and
  in its ``files``: the local stand-in for a site on the network.
- ``port=N``: replace ``N`` with a free port of 127.0.0.1 (several test runs share machines).
- ``background=CMD`` and ``ready=TEXT``: the line that starts with ``CMD`` starts a server; it
  runs in the background until it prints ``TEXT``, the other lines run against it, then it is
  stopped with SIGINT and must exit cleanly.
- ``dry-run=CMD``: lines that start with ``CMD`` (``pip install``) run with ``--dry-run``, so
  that they resolve what they would install without changing the project's virtualenv.
- ``ci=CMD``: lines that start with ``CMD`` are not run here: ``.ci/run`` runs that command
  (checked), and it is what runs this test.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
FILES = Path(__file__).resolve().parent / "readme_files"
BIN = Path(sys.executable).parent
TIMEOUT = 240

_MARKER = re.compile(r"<!--\s*readme-test:(.*?)-->")


@dataclass
class Block:
    lang: str
    code: str
    line: int  # 1-based line of the opening fence
    directives: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.lang}@{self.line}"


def _directives(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        value = value.strip()
        if value.startswith('"'):
            value = shlex.split(value)[0]
        found[key.strip()] = value if sep else ""
    return found


def readme_blocks() -> list[Block]:
    lines = README.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        fence = re.fullmatch(r"```(\w+)\s*", lines[i])
        if fence is None:
            i += 1
            continue
        lang, start = fence.group(1), i
        i += 1
        body: list[str] = []
        while not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1
        directives: dict[str, str] = {}
        j = start - 1
        while j >= 0 and (not lines[j].strip() or lines[j].lstrip().startswith("<!--")):
            marker = _MARKER.search(lines[j])
            if marker:
                directives = {**_directives(marker.group(1)), **directives}
            j -= 1
        if lang in ("python", "sh"):
            blocks.append(Block(lang, "\n".join(body) + "\n", start + 1, directives))
    return blocks


BLOCKS = readme_blocks()


def _runs() -> list[list[Block]]:
    """What each test runs: one block, or every block of a session."""
    runs: list[list[Block]] = []
    sessions: dict[str, list[Block]] = {}
    for block in BLOCKS:
        session = block.directives.get("session")
        if session is None:
            runs.append([block])
        elif session in sessions:
            sessions[session].append(block)
        else:
            sessions[session] = [block]
            runs.append(sessions[session])
    return runs


RUNS = _runs()


# -- the place a block runs in ---------------------------------------------------------------


def project_copy(target: Path) -> Path:
    """The project's files (tracked, and new ones not ignored) copied to ``target``."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout.decode()
        names = [n for n in listed.split("\0") if n]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: everything
        names = [
            str(p.relative_to(REPO))
            for p in REPO.rglob("*")
            if p.is_file() and not {".venv", ".git", "__pycache__"} & set(p.parts)
        ]
    for name in names:
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(BIN.parent)
    env.pop("MAKEFLAGS", None)
    env.pop("MFLAGS", None)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Site:
    """The crawler example's embedded site, in a child process, until closed."""

    def __init__(self, cwd: Path) -> None:
        self.child = subprocess.Popen(
            [sys.executable, "-m", "examples.crawler.site", "--pages", "30"],
            cwd=cwd,
            env=environment(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.child.stdout is not None
        self.base = self.child.stdout.readline().strip().removesuffix("/sitemap.xml")
        assert self.base.startswith("http://127.0.0.1:"), self.base

    def close(self) -> None:
        assert self.child.stdin is not None
        self.child.stdin.close()  # the site serves until its stdin closes
        self.child.wait(timeout=30)


def substitute(text: str, values: dict[str, str]) -> str:
    for old, new in values.items():
        text = text.replace(old, new)
    return text


# -- running ---------------------------------------------------------------------------------


def check_prints(code: str, stdout: str) -> None:
    """``print(...)`` followed by a ``# shown`` comment: the output holds ``shown``."""
    lines = code.splitlines()
    for line, after in zip(lines, lines[1:]):
        if line.startswith("print(") and after.startswith("# "):
            assert after[2:] in stdout, f"{line!r} should show {after[2:]!r}; it showed {stdout!r}"


def run_python(blocks: list[Block], where: Path, values: dict[str, str]) -> None:
    code = "\n".join(substitute(b.code, values) for b in blocks)
    script = where / "readme_block.py"
    script.write_text(code, encoding="utf-8")
    done = subprocess.run(
        [str(BIN / "python"), script.name],
        cwd=where,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, f"{blocks[0].name} failed:\n{done.stderr[-3000:]}"
    check_prints(code, done.stdout)


def _logical_lines(code: str) -> list[str]:
    """Shell lines, with ``\\`` continuations joined."""
    out: list[str] = []
    pending = ""
    for raw in code.splitlines():
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        out.append(pending + raw)
        pending = ""
    return [line for line in out if line.strip() and not line.lstrip().startswith("#")]


def run_shell(block: Block, where: Path, values: dict[str, str]) -> None:
    d = block.directives
    background = d.get("background")
    before: list[str] = []  # the lines before the server's, then the server's, then the rest
    server_line: str | None = None
    after: list[str] = []
    for line in _logical_lines(substitute(block.code, values)):
        command = line.strip()
        if "ci" in d and command.startswith(d["ci"]):
            ci = (REPO / ".ci" / "run").read_text()
            assert re.search(rf"^\s*{re.escape(d['ci'])}\s*$", ci, re.M), ".ci/run must run it"
            continue
        if "dry-run" in d and command.startswith(d["dry-run"]):
            command = f"{d['dry-run']} --dry-run{command[len(d['dry-run']) :]}"
        if background is not None and command.startswith(background):
            assert server_line is None, "one server per block"
            server_line = command
            continue
        (after if server_line is not None else before).append(command)
    if background is not None:
        assert server_line is not None, f"{block.name}: no line starts with {background!r}"
    bash(block, before, where)
    if server_line is None:
        return
    server = start_server(server_line, where, d.get("ready", ""))
    try:
        bash(block, after, where)
    finally:
        stop_server(server)


def bash(block: Block, lines: list[str], where: Path) -> None:
    if not lines:
        return
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "\n".join(lines)],
        cwd=where,
        env=environment(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, (
        f"{block.name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    )


def start_server(command: str, where: Path, ready: str) -> subprocess.Popen[str]:
    server = subprocess.Popen(
        ["bash", "-c", f"exec {command}"],
        cwd=where,
        env={**environment(), "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert server.stdout is not None
    deadline = time.monotonic() + 60
    seen = ""
    while ready not in seen:
        line = server.stdout.readline()
        if not line:
            server.wait(timeout=10)
            raise AssertionError(f"the server stopped before it was ready:\n{seen}")
        seen += line
        assert time.monotonic() < deadline, f"the server never said {ready!r}:\n{seen}"
    return server


def stop_server(server: subprocess.Popen[str]) -> None:
    server.send_signal(signal.SIGINT)
    try:
        code = server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
        raise AssertionError("the server did not stop on SIGINT") from None
    assert code == 0, f"the server exited with {code}"


@pytest.mark.parametrize("blocks", RUNS, ids=[run[0].name for run in RUNS])
def test_readme_block_runs(blocks: list[Block], tmp_path: Path) -> None:
    where = project_copy(tmp_path / "project")
    d: dict[str, str] = {}
    for block in blocks:
        d.update(block.directives)
    values: dict[str, str] = {}
    if "port" in d:
        values[d["port"]] = str(free_port())
    site = Site(where) if "site" in d else None
    try:
        if site is not None:
            values[d["site"]] = site.base
        for name in filter(None, d.get("files", "").split(",")):
            text = (FILES / name.strip()).read_text(encoding="utf-8")
            (where / name.strip()).write_text(substitute(text, values))
        if blocks[0].lang == "python":
            run_python(blocks, where, values)
        else:
            assert len(blocks) == 1
            run_shell(blocks[0], where, values)
    finally:
        if site is not None:
            site.close()


def test_every_block_is_run() -> None:
    """Blocks are found (a fence typo would hide one), and every marker key is known."""
    assert sum(b.lang == "python" for b in BLOCKS) >= 5
    assert sum(b.lang == "sh" for b in BLOCKS) >= 4
    known = {"session", "files", "site", "port", "background", "ready", "dry-run", "ci"}
    for block in BLOCKS:
        assert set(block.directives) <= known, f"{block.name}: {block.directives}"
        if "background" in block.directives:
            assert "ready" in block.directives, f"{block.name}: background needs ready="
        for name in filter(None, block.directives.get("files", "").split(",")):
            assert (FILES / name.strip()).is_file(), f"{block.name}: no stand-in {name}"
