"""Resume: a run SIGKILLed half-way (in a subprocess) and started again runs only what had
not finished. What had finished is read from the cache directory after the kill (the keys
the cache would use), so the check is exact: the second run executes every node call whose
result was not stored, and nothing else."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from asyncdag import driver
from asyncdag.caching._fingerprint import data_version
from asyncdag.caching._store import forget_stores
from tests.dags_cache import slow

REPO = Path(__file__).resolve().parents[1]
N = 240
DELAY = 0.004


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    yield
    forget_stores()


def _start(cache_dir: Path, log: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.dags_cache.slow",
            str(cache_dir),
            str(N),
            str(log),
            str(DELAY),
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _ran(log: Path) -> Counter[str]:
    return Counter(log.read_text().split()) if log.exists() else Counter()


def _stored(cache_dir: Path, log: Path) -> set[str]:
    """The node calls whose results are in the cache, as ``node:item``."""
    forget_stores()
    dr = driver.Builder().with_modules(slow).with_cache(cache_dir).build()
    inputs = {"n": N, "log_path": str(log), "delay": DELAY}
    dr.validate_execution(["total"], inputs=inputs)  # plans the run: code versions are known
    meta = dr.cache.metadata_store
    found = set()
    for i in range(N):
        deps = {
            "item": data_version(i),
            "log_path": data_version(str(log)),
            "delay": data_version(DELAY),
        }
        if meta.get(dr.cache.make_cache_key("work", deps)) is not None:
            found.add(f"work:{i}")
        post_key = dr.cache.make_cache_key(
            "post", {"work": data_version(3 * i), "log_path": data_version(str(log))}
        )
        if meta.get(post_key) is not None:
            found.add(f"post:{i}")
    return found


def test_a_run_killed_half_way_resumes_where_it_stopped(tmp_path: Path) -> None:
    cache_dir, log = tmp_path / "cache", tmp_path / "calls.log"
    first = _start(cache_dir, log)
    assert first.stdout is not None
    seen = 0
    for line in first.stdout:
        seen += line.startswith("post:")
        if seen >= N // 2:
            break
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    assert first.returncode == -signal.SIGKILL
    ran_first = _ran(log)
    stored = _stored(cache_dir, log)
    assert N // 4 < len([s for s in stored if s.startswith("post:")]) < N
    assert stored <= set(ran_first)  # nothing is stored that did not run
    log.unlink()

    second = _start(cache_dir, log)
    out, err = second.communicate(timeout=100)
    assert second.returncode == 0, err
    assert f"total={slow.expected_total(N)}" in out
    ran_second = _ran(log)
    everything = {f"{node}:{i}" for node in ("work", "post") for i in range(N)}
    assert set(ran_second) == everything - stored
    assert all(count == 1 for count in ran_second.values())
