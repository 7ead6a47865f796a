"""An expander starts as soon as its own arguments are ready, not when its block's are."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from asyncdag import driver
from tests.dags_gate import gated

pytestmark = pytest.mark.anyio


async def test_the_expander_starts_before_an_outer_value_its_block_reads() -> None:
    # discount waits on an event that only the running expander sets: an engine that held the
    # expander until its block's outer values were ready would deadlock here
    seen: list[str] = []
    release = asyncio.Event()
    async with driver.Builder().with_modules(gated).build() as dr:
        with anyio.fail_after(5):
            result = await dr.aexecute(
                ["total"], inputs={"count": 4, "seen": seen, "release": release}
            )
    assert result == {"total": (0 + 10 + 20 + 30) * 0.5}
    assert seen.index("expander started") < seen.index("discount done")


@pytest.mark.parametrize("how", ["execute", "processes"])
def test_gated_items_still_see_the_outer_value(how: str) -> None:
    from asyncdag.execution import executors

    builder = driver.Builder().with_modules(gated)
    if how == "processes":
        builder = builder.with_remote_executor(executors.MultiProcessingExecutor(max_tasks=1))
    with builder.build() as dr:
        seen: list[str] = []
        result = dr.execute(
            ["total", "price"], inputs={"count": 3, "seen": seen, "release": asyncio.Event()}
        )
    assert result == {"total": 15.0, "price": [0.0, 5.0, 10.0]}
