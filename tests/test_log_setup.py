"""log_setup.setup_logging: one readable handler on the "asyncdag" logger, installed once."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from asyncdag import log_setup


@pytest.fixture
def asyncdag_logger() -> Iterator[logging.Logger]:
    """The "asyncdag" logger, restored afterwards so other tests see it untouched."""
    logger = logging.getLogger("asyncdag")
    handlers, level = list(logger.handlers), logger.level
    yield logger
    logger.handlers[:] = handlers
    logger.setLevel(level)


def test_records_are_written_with_level_name_and_message(asyncdag_logger: logging.Logger) -> None:
    out = io.StringIO()
    log_setup.setup_logging(logging.INFO, stream=out)
    logging.getLogger("asyncdag").info("run %s started", "r1")
    logging.getLogger("asyncdag.data_quality").warning("check failed")
    logging.getLogger("asyncdag").debug("not shown at INFO")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("INFO    asyncdag: run r1 started")
    assert lines[1].endswith("WARNING asyncdag.data_quality: check failed")


def test_calling_twice_adds_no_handler_and_updates_the_level(
    asyncdag_logger: logging.Logger,
) -> None:
    out = io.StringIO()
    log_setup.setup_logging(stream=out)
    count = len(asyncdag_logger.handlers)
    log_setup.setup_logging(logging.DEBUG)
    log_setup.setup_logging(logging.DEBUG)
    assert len(asyncdag_logger.handlers) == count
    assert asyncdag_logger.level == logging.DEBUG
    asyncdag_logger.debug("now visible")
    assert out.getvalue().count("now visible") == 1


def test_only_the_asyncdag_logger_is_configured(asyncdag_logger: logging.Logger) -> None:
    root = logging.getLogger()
    before = list(root.handlers), root.level
    log_setup.setup_logging(stream=io.StringIO())
    assert (list(root.handlers), root.level) == before
    assert log_setup.LOGGER_NAME == "asyncdag"
    # records still propagate, so an application's own logging (and pytest's caplog) sees them
    assert asyncdag_logger.propagate


def test_signature_matches_hamilton() -> None:
    import inspect

    params = inspect.signature(log_setup.setup_logging).parameters
    assert list(params)[0] == "log_level"
    assert params["log_level"].default == logging.INFO


QUIET_RUN = """
import logging, sys
from asyncdag import driver
from tests.dags_policies import skipping
dr = driver.Builder().with_modules(skipping).build()
{configure}
print(dr.execute(["afetched"], inputs={{"n": 4, "bad": 2}}))
logging.getLogger("asyncdag").warning("a warning of asyncdag's")
"""


def _run_script(configure: str) -> tuple[str, str]:
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", QUIET_RUN.format(configure=configure)],
        capture_output=True,
        text=True,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr


def test_nothing_is_printed_when_logging_is_not_configured() -> None:
    stdout, stderr = _run_script("")
    assert stdout.strip() == "{'afetched': [0, 10, 30]}"  # item 2 was skipped...
    assert stderr == ""  # ...and nothing was printed about it, nor the explicit warning


def test_setup_logging_and_an_applications_own_config_both_show_the_records() -> None:
    _, stderr = _run_script("from asyncdag import log_setup; log_setup.setup_logging()")
    assert "WARNING asyncdag: a warning of asyncdag's" in stderr
    assert "INFO    asyncdag: " in stderr and ": attempt 2 of 3 in 0 s after" in stderr
    _, stderr = _run_script("logging.basicConfig(level=logging.WARNING)")
    assert "WARNING:asyncdag:a warning of asyncdag's" in stderr


def test_retry_lines_name_the_node_and_the_item() -> None:
    _, stderr = _run_script("from asyncdag import log_setup; log_setup.setup_logging()")
    assert "INFO    asyncdag: afetched (2,) 2: attempt 2 of 3" in stderr
