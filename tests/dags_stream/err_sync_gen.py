"""Expander ``items``: a sync generator, endless when ``limit < 0``; reports its close."""

from __future__ import annotations

import itertools

from asyncdag.htypes import Parallelizable
from tests.dags_stream.probes import Failure


def items(limit: int, probe: Failure) -> Parallelizable[int]:
    try:
        yield from itertools.count() if limit < 0 else range(limit)
    finally:
        probe.closed.set()
