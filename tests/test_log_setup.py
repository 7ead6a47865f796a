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
