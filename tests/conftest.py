"""Fixtures shared by the whole test suite. Keep this file small: several suites share it."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Run ``@pytest.mark.anyio`` tests on asyncio only: asyncdag is an asyncio scheduler."""
    return "asyncio"
