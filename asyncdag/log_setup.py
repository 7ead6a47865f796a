"""One call to see what asyncdag logs, as Hamilton's ``log_setup.setup_logging``.

asyncdag logs through the ``"asyncdag"`` logger (and children such as
``"asyncdag.data_quality"``). Its records propagate to the root logger as usual, so an
application that configures logging itself needs nothing from here. When nothing is
configured, nothing is printed: the logger carries a ``logging.NullHandler`` (the standard
library's advice for libraries), so Python's last-resort handler never writes asyncdag's
warnings to stderr. For scripts and notebooks::

    from asyncdag import log_setup

    log_setup.setup_logging()               # INFO and up, to stderr
    log_setup.setup_logging(logging.DEBUG)  # calling again changes the level, adds nothing
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

__all__ = ["LOGGER_NAME", "setup_logging"]

#: The logger every asyncdag module logs through (or through a child of it).
LOGGER_NAME = "asyncdag"

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


# Quiet by default: with a handler of its own, the logger never falls back to Python's
# last-resort handler (WARNING and up to stderr) when the application configured nothing.
# Records still propagate, so a configured root logger (or pytest's caplog) sees them.
if not any(type(h) is logging.NullHandler for h in logging.getLogger(LOGGER_NAME).handlers):
    logging.getLogger(LOGGER_NAME).addHandler(logging.NullHandler())


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler ``setup_logging`` installs; its class marks it, so it is installed once."""


def setup_logging(log_level: int = logging.INFO, *, stream: TextIO | None = None) -> None:
    """Show asyncdag's log records at ``log_level`` and above on ``stream`` (stderr).

    Configures only the ``"asyncdag"`` logger: one stream handler with a readable format
    (time, level, logger, message). Idempotent: a second call updates the level (and the
    stream, when one is given) instead of adding a handler. Logs go to stderr rather than
    Hamilton's stdout, so that a command's printed results stay clean.
    """
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(log_level)
    handler = next((h for h in logger.handlers if isinstance(h, _Handler)), None)
    if handler is None:
        handler = _Handler(stream or sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT))
        logger.addHandler(handler)
    elif stream is not None:
        handler.setStream(stream)
