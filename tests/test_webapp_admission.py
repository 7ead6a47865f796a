"""The web example's admission (``examples/webapp/admission.py``), piece by piece and in the
app: turns in order, the limit following the lag samples it is given, and cancellation that
neither leaks a turn nor loses one. Lag samples are handed to ``observe`` (or made by a fake
clock): nothing here depends on how long anything takes."""

from __future__ import annotations

import asyncio
import json

import anyio
import pytest

from examples.webapp import app as webapp
from examples.webapp.admission import Admission
from examples.webapp.services import expected_quote
from tests.test_webapp import Gated, client, post_bytes, post_quote, raw_request, serving

pytestmark = pytest.mark.anyio


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


class Holders:
    """Tasks that each take a turn and hold it until released; ``order`` is who got one."""

    def __init__(self, admission: Admission) -> None:
        self.admission = admission
        self.order: list[int] = []
        self.release: dict[int, asyncio.Event] = {}
        self.tasks: dict[int, asyncio.Task[None]] = {}

    def start(self, i: int) -> None:
        self.release[i] = asyncio.Event()

        async def hold() -> None:
            async with self.admission.turn():
                self.order.append(i)
                await self.release[i].wait()

        self.tasks[i] = asyncio.ensure_future(hold())


async def test_turns_go_in_arrival_order_up_to_the_limit() -> None:
    admission = Admission(initial=2, minimum=1)
    holders = Holders(admission)
    for i in range(5):
        holders.start(i)
    await _settle()
    assert holders.order == [0, 1]
    assert (admission.active, admission.waiting) == (2, 3)
    holders.release[1].set()
    await _settle()
    assert holders.order == [0, 1, 2]
    for i in (0, 2, 3, 4):
        holders.release[i].set()
    await asyncio.gather(*holders.tasks.values())
    assert holders.order == [0, 1, 2, 3, 4]
    assert (admission.active, admission.waiting) == (0, 0)


async def test_a_late_loop_shrinks_the_limit_and_a_prompt_one_grows_it_only_when_used() -> None:
    admission = Admission(initial=10, minimum=4, maximum=12, target=0.003)
    admission.observe(0.004)
    assert admission.limit == pytest.approx(8)
    for _ in range(10):
        admission.observe(0.050)
    assert admission.limit == 4  # never below the minimum
    admission.observe(0.0)
    assert admission.limit == 4  # nobody waits: an unused limit does not grow

    holders = Holders(admission)
    for i in range(20):
        holders.start(i)
    await _settle()
    assert (admission.active, admission.waiting) == (4, 16)
    admission.observe(0.002)  # within the target, not within half of it: held
    assert admission.limit == 4
    admission.observe(0.0)  # prompt, with requests waiting: grows, and admits who now fits
    assert admission.limit == pytest.approx(4 * 1.05 + 1)
    await _settle()
    assert (admission.active, admission.waiting) == (5, 15)  # a turn per whole of the limit
    for _ in range(20):
        admission.observe(0.0)
    assert admission.limit == 12  # never above the maximum
    await _settle()
    assert (admission.active, admission.waiting) == (12, 8)
    for event in holders.release.values():
        event.set()
    await asyncio.gather(*holders.tasks.values())
    assert admission.active == 0


async def test_a_request_cancelled_while_it_waits_takes_no_turn() -> None:
    admission = Admission(initial=1, minimum=1)
    holders = Holders(admission)
    for i in range(3):
        holders.start(i)
    await _settle()
    holders.tasks[1].cancel()
    await _settle()
    assert admission.waiting == 1
    holders.release[0].set()
    await _settle()
    assert holders.order == [0, 2]  # 1 never ran; its place went to the next
    holders.release[2].set()
    await asyncio.gather(holders.tasks[0], holders.tasks[2])
    assert holders.tasks[1].cancelled()
    assert admission.active == 0


async def test_a_turn_granted_as_its_request_is_cancelled_passes_on() -> None:
    admission = Admission(initial=1, minimum=1)
    holders = Holders(admission)
    first = admission.turn()
    await first.__aenter__()  # this test's own task holds the one turn
    for i in (1, 2):
        holders.start(i)
    await _settle()
    assert admission.waiting == 2
    await first.__aexit__(None, None, None)  # grants the turn to 1, which has not resumed yet
    assert admission.active == 1 and holders.order == []
    holders.tasks[1].cancel()  # cancelled before it could use the turn
    await _settle()
    assert holders.tasks[1].cancelled()
    assert holders.order == [2]
    holders.release[2].set()
    await holders.tasks[2]
    assert admission.active == 0


async def test_the_sampler_measures_the_loops_lateness_with_the_clock_it_is_given() -> None:
    ticks = iter(x * 0.5 for x in range(10_000))  # each reading 0.5 s after the last

    admission = Admission(initial=64, minimum=4, target=0.003, clock=lambda: next(ticks))
    sampler = asyncio.ensure_future(admission.run())
    try:
        with anyio.fail_after(5):
            while admission.limit > 4:  # every sample reads ~0.5 s late: it shrinks
                await asyncio.sleep(0)
    finally:
        sampler.cancel()
    assert admission.limit == 4


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="minimum <= initial"):
        Admission(initial=2, minimum=4)


# -- in the app --------------------------------------------------------------------------------


async def test_the_app_runs_no_more_requests_at_once_than_admission_allows() -> None:
    backend = Gated(held=frozenset({"ada", "bob", "cy", "dee"}))  # loyalty calls, by customer
    admission = Admission(initial=2, minimum=2, maximum=2)
    bodies = [{"skus": ["a"], "customer": c} for c in ("ada", "bob", "cy", "dee")]
    with anyio.fail_after(15):
        async with serving(webapp.create_app(backend, admission)) as base, client() as session:
            posts = [asyncio.ensure_future(post_quote(session, base, b)) for b in bodies]
            while admission.waiting < 2:
                await asyncio.sleep(0.01)
            assert admission.active == 2
            assert sorted(k for _, k in backend.in_flight.values()) == ["ada", "bob"]
            async with session.get(f"{base}/stats") as resp:
                assert (await resp.json())["admission"] == {"limit": 2, "active": 2, "waiting": 2}
            for customer in ("ada", "bob", "cy", "dee"):
                backend.release(customer)
            answers = await asyncio.gather(*posts)
    for body, (status, answer) in zip(bodies, answers):
        assert (status, answer) == (200, expected_quote(body["skus"], body["customer"]))
    assert admission.active == 0 and backend.in_flight == {}


async def test_a_client_that_leaves_while_its_request_waits_never_starts_a_run() -> None:
    backend = Gated(held=frozenset({"ada"}))
    admission = Admission(initial=1, minimum=1, maximum=1)
    with anyio.fail_after(15):
        async with serving(webapp.create_app(backend, admission)) as base, client() as session:
            first = asyncio.ensure_future(
                post_quote(session, base, {"skus": ["a"], "customer": "ada"})
            )
            while not backend.in_flight:
                await asyncio.sleep(0.01)
            body = json.dumps({"skus": ["b"], "customer": "bob"}).encode()
            _, writer = await raw_request(base, post_bytes(body))
            while admission.waiting < 1:
                await asyncio.sleep(0.01)
            writer.close()  # gone before its turn
            await writer.wait_closed()
            while admission.waiting:
                await asyncio.sleep(0.01)
            calls = backend.calls
            backend.release("ada")
            assert await first == (200, expected_quote(["a"], "ada"))
            assert backend.calls == calls + 2  # ada's SKU; nothing of bob's
            assert await post_quote(session, base, {"skus": ["c"], "customer": "cy"}) == (
                200,
                expected_quote(["c"], "cy"),
            )
    assert admission.active == 0
