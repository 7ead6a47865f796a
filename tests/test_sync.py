"""asyncdag._sync on its own: the limiter, credits and signals, including misuse."""

from __future__ import annotations

import asyncio
import threading

import anyio
import pytest

from asyncdag._sync import Credits, Signal, SlotLimiter

pytestmark = pytest.mark.anyio


async def test_a_release_by_a_borrower_that_holds_nothing_raises() -> None:
    limiter = SlotLimiter(2)
    a, b = object(), object()
    assert limiter.try_acquire(a)
    with pytest.raises(RuntimeError, match="does not hold"):
        limiter.release(b)
    limiter.release(a)
    with pytest.raises(RuntimeError, match="does not hold"):
        limiter.release(a)  # twice
    assert limiter.statistics().borrowed == 0


async def test_statistics_and_release_all() -> None:
    limiter = SlotLimiter(3)
    run = object()
    assert limiter.try_acquire(run) and limiter.try_acquire(run)
    other = object()
    await limiter.acquire(other)
    stats = limiter.statistics()
    assert (stats.total, stats.borrowed, stats.borrowers, stats.waiting) == (3, 3, 2, 0)
    assert not limiter.try_acquire(object())
    assert limiter.release_all(run) == 2
    assert limiter.holds(run) == 0
    assert limiter.statistics().borrowed == 1
    limiter.release(other)
    assert limiter.statistics().borrowed == 0


async def test_waiters_are_served_in_arrival_order() -> None:
    limiter = SlotLimiter(1)
    first = object()
    assert limiter.try_acquire(first)
    order: list[int] = []

    async def wait(n: int) -> None:
        await limiter.acquire(n)
        order.append(n)
        limiter.release(n)

    async with anyio.create_task_group() as tg:
        for n in range(5):
            tg.start_soon(wait, n)
        with anyio.fail_after(5):
            while limiter.statistics().waiting < 5:
                await anyio.sleep(0)
        assert not limiter.try_acquire(object())  # no jumping the queue while they wait
        limiter.release(first)
    assert order == [0, 1, 2, 3, 4]


async def test_a_cancelled_waiter_leaves_the_queue_and_takes_nothing() -> None:
    limiter = SlotLimiter(1)
    holder = object()
    assert limiter.try_acquire(holder)
    with anyio.move_on_after(0):  # cancelled while it waits
        await limiter.acquire("w")
    assert limiter.statistics().waiting == 0
    limiter.release(holder)
    assert limiter.statistics().borrowed == 0
    assert limiter.try_acquire("x")


async def test_a_waiter_granted_then_cancelled_gives_the_slot_back() -> None:
    limiter = SlotLimiter(1)
    holder = object()
    assert limiter.try_acquire(holder)
    task = asyncio.ensure_future(limiter.acquire("w"))
    with anyio.fail_after(5):
        while limiter.statistics().waiting < 1:
            await anyio.sleep(0)
    limiter.release(holder)  # granted (the grant is on its way to our loop) ...
    task.cancel()  # ... and cancelled before the waiter resumes
    with pytest.raises(asyncio.CancelledError):
        await task
    with anyio.fail_after(5):
        while limiter.statistics().borrowed:
            await anyio.sleep(0)
    assert limiter.holds("w") == 0


def test_a_slot_freed_on_one_loop_wakes_a_waiter_on_another() -> None:
    limiter = SlotLimiter(1)
    assert limiter.try_acquire("main")
    got = threading.Event()
    waiting = threading.Event()

    def other_loop() -> None:
        async def main() -> None:
            fut = asyncio.ensure_future(limiter.acquire("other"))
            while limiter.statistics().waiting < 1:
                await asyncio.sleep(0)
            waiting.set()
            await fut
            got.set()
            limiter.release("other")

        asyncio.run(main())

    thread = threading.Thread(target=other_loop)
    thread.start()
    assert waiting.wait(10)
    limiter.release("main")
    assert got.wait(10)
    thread.join(10)
    assert limiter.statistics().borrowed == 0


async def test_credits_wait_until_given() -> None:
    credits = Credits(1)
    assert credits.take_nowait()
    assert not credits.take_nowait()
    taken = asyncio.Event()

    async def take() -> None:
        await credits.take()
        taken.set()

    task = asyncio.ensure_future(take())
    await asyncio.sleep(0)
    assert not taken.is_set()
    credits.give()
    with anyio.fail_after(5):
        await task
    assert credits.available == 0


async def test_signal_is_level_triggered() -> None:
    signal = Signal()
    signal.set()
    with anyio.fail_after(5):
        await signal.wait()  # armed before: returns at once
    task = asyncio.ensure_future(signal.wait())
    await asyncio.sleep(0)
    assert not task.done()
    signal.set()
    with anyio.fail_after(5):
        await task
