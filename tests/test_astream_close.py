"""Closing an astream early cancels the run and waits for it; the reader's own cancellation
is never swallowed on the way."""

from __future__ import annotations

import asyncio
import contextlib

import anyio
import pytest

from asyncdag import driver
from tests.dags_gate import slow_cleanup

pytestmark = pytest.mark.anyio


async def test_a_reader_cancelled_while_the_run_cleans_up_stays_cancelled() -> None:
    probe = slow_cleanup.Probe()
    dr = driver.Builder().with_modules(slow_cleanup).build()

    async def reader() -> None:
        stream = dr.astream(["label", "hang"], inputs={"count": 1, "probe": probe})
        async with contextlib.aclosing(stream):
            async for event in stream:
                if event.kind == "item":
                    break  # leave early: closing the stream cancels the run
        probe.log.append("reader went on")  # must not happen: the reader was cancelled

    with anyio.fail_after(5):
        task = asyncio.create_task(reader())
        await probe.cleanup_started.wait()  # the reader is now waiting for the run to end
        task.cancel()  # the reader is cancelled while the run cleans up
        for _ in range(10):
            await asyncio.sleep(0)
        assert not task.done(), "the reader stopped waiting for the run's cleanup"
        probe.release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert probe.log == ["cleanup finished"]
    await dr.aclose()
