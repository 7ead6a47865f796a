"""The engine's pieces on their own: thread pool, pump, stream, run, resource cache, codec.

Each defect the probes found sat in a piece no test touched alone; these tests touch each
piece alone, including misuse and cancellation at its edges.
"""

from __future__ import annotations

import asyncio
import contextvars
import pickle
import sys
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import cloudpickle
import pytest

from asyncdag import errors
from asyncdag._calls import RunInfo
from asyncdag.execution import _wire
from asyncdag.execution._outcome import DONE, Done, Ended, Raised, failed
from asyncdag.execution._resources import ResourceCache, ResourceRef
from asyncdag.execution._run import Run
from asyncdag.execution._streams import Pump, SourceFailed, Stream
from asyncdag.execution._threads import ThreadPool
from asyncdag.htypes import ItemFailure

pytestmark = pytest.mark.anyio


# -- ThreadPool ----------------------------------------------------------------------------------


async def test_a_pool_runs_at_most_size_jobs_and_queues_the_rest_in_order() -> None:
    pool = ThreadPool(2, "test-pool")
    loop = asyncio.get_running_loop()
    release = threading.Event()
    started: list[int] = []
    lock = threading.Lock()

    def work(n: int) -> int:
        with lock:
            started.append(n)
        release.wait(10)
        return n * 10

    jobs = [pool.submit(loop, work, n) for n in range(5)]
    with anyio.fail_after(5):
        while len(started) < 2:
            await anyio.sleep(0)
    assert pool.busy == 2 and pool.threads == 2
    assert sorted(started) == [0, 1]  # the rest wait in the queue
    release.set()
    with anyio.fail_after(5):
        results = [await job.future for job in jobs]
    assert results == [0, 10, 20, 30, 40]
    assert started[2:] == [2, 3, 4]
    pool.close()


async def test_a_job_cancelled_before_a_thread_takes_it_never_runs() -> None:
    pool = ThreadPool(1, "test-pool")
    loop = asyncio.get_running_loop()
    gate = threading.Event()
    ran: list[str] = []
    first = pool.submit(loop, gate.wait, 10)
    second = pool.submit(loop, ran.append, "second")
    second.future.cancel()
    gate.set()
    with anyio.fail_after(5):
        await first.future
        while pool.busy:
            await anyio.sleep(0)
    third = pool.submit(loop, ran.append, "third")
    with anyio.fail_after(5):
        await third.future
    assert ran == ["third"] and not second.started
    pool.close()


async def test_a_job_runs_in_the_context_it_was_given_and_reports_its_exception() -> None:
    pool = ThreadPool(1, "test-pool")
    loop = asyncio.get_running_loop()
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    var.set("from the caller")
    job = pool.submit(loop, var.get)
    assert await job.future == "from the caller"

    def boom() -> None:
        raise KeyError("k")

    with pytest.raises(KeyError):
        await pool.submit(loop, boom).future
    assert ThreadPool.current() is None
    assert await pool.submit(loop, ThreadPool.current).future is pool
    pool.close()


async def test_a_closed_pool_refuses_work_and_drops_queued_jobs() -> None:
    pool = ThreadPool(1, "test-pool")
    loop = asyncio.get_running_loop()
    gate = threading.Event()
    running = pool.submit(loop, gate.wait, 10)
    queued = pool.submit(loop, lambda: "never")
    pool.close()
    with pytest.raises(RuntimeError, match="closed"):
        pool.submit(loop, lambda: None)
    gate.set()
    with anyio.fail_after(5):
        assert await running.future is True
        with pytest.raises(asyncio.CancelledError):
            await queued.future


async def test_a_thread_blocked_on_its_loop_lets_the_pool_run_the_work_it_waits_for() -> None:
    # a sync collector waits on its thread for items that other jobs of the same pool produce:
    # with every thread waiting, the producers would never start
    pool = ThreadPool(1, "test-pool")
    loop = asyncio.get_running_loop()
    produced = threading.Event()

    def reader() -> str:
        with pool.blocking():
            assert produced.wait(10), "the producer never ran"
        return "read"

    first = pool.submit(loop, reader)
    with anyio.fail_after(5):
        while not first.started:
            await anyio.sleep(0)
    producer = pool.submit(loop, produced.set)
    with anyio.fail_after(5):
        assert await first.future == "read"
        await producer.future
        while pool.threads > 1:  # back to its size once the extra thread's job is done
            await anyio.sleep(0)
    assert pool.threads == 1
    pool.close()


async def test_a_thread_that_is_not_blocked_still_counts_against_the_size() -> None:
    pool = ThreadPool(1, "test-pool")
    loop = asyncio.get_running_loop()
    gate = threading.Event()
    busy = pool.submit(loop, gate.wait, 10)
    with anyio.fail_after(5):
        while not busy.started:
            await anyio.sleep(0)
    queued = pool.submit(loop, lambda: "after")
    assert pool.threads == 1  # submit starts no thread: the busy one takes it when free
    gate.set()
    with anyio.fail_after(5):
        assert await queued.future == "after"
    pool.close()


# -- Pump ----------------------------------------------------------------------------------------


async def test_a_pump_never_produces_beyond_its_credit_and_resumes_when_given_more() -> None:
    produced: list[int] = []
    delivered: list[int] = []

    def source() -> Iterator[int]:
        for i in range(20):
            produced.append(i)
            yield i

    holder: list[Pump] = []
    got_four = asyncio.Event()

    def deliver(item: int) -> None:
        delivered.append(item)
        if len(delivered) == 4:
            got_four.set()

    pump = Pump(source(), credits=4, deliver=deliver)
    holder.append(pump)
    task = asyncio.ensure_future(pump.run())
    with anyio.fail_after(5):
        await got_four.wait()
        # starved: the job gave its thread back without asking the generator again
        while pump._running:
            await anyio.sleep(0)
    assert produced == [0, 1, 2, 3]
    pump.give(17)  # 16 items, and one credit to find out that the generator has ended
    with anyio.fail_after(5):
        await task
    assert delivered == list(range(20))


async def test_a_stopped_pump_closes_its_generator_on_a_pool_thread() -> None:
    closed_on: list[str] = []
    blocked = threading.Event()
    go_on = threading.Event()

    def source() -> Iterator[int]:
        try:
            yield 0
            blocked.set()
            go_on.wait(10)  # blocked in user code when the pump is stopped
            yield 1
        finally:
            closed_on.append(threading.current_thread().name)

    pump = Pump(source(), credits=10, deliver=lambda item: None)
    task = asyncio.ensure_future(pump.run())
    with anyio.fail_after(5):
        while not blocked.is_set():
            await anyio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task  # never waits for the blocked next()
    assert closed_on == []
    go_on.set()  # next() returns: the job sees the stop and closes the generator itself
    with anyio.fail_after(5):
        while not closed_on:
            await anyio.sleep(0)
    assert closed_on[0].startswith("asyncdag-pump")


async def test_a_pump_reports_what_the_generator_raised() -> None:
    def source() -> Iterator[int]:
        yield 1
        raise LookupError("broke")

    items: list[int] = []
    pump = Pump(source(), credits=10, deliver=items.append)
    with pytest.raises(SourceFailed) as info:
        await pump.run()
    assert items == [1]
    assert isinstance(info.value.error, LookupError)


# -- Stream --------------------------------------------------------------------------------------


async def test_a_stream_hands_out_in_yield_order_and_releases_each_item_once() -> None:
    released: list[int] = []
    stream = Stream(True, released.append, lambda fn: None)
    stream.put(1, "b")
    stream.skip(2)
    stream.put(0, "a")
    stream.close(3)
    assert [v async for v in stream] == ["a", "b"]
    assert sorted(released) == [0, 1, 2]


async def test_an_abandoned_stream_releases_what_it_holds_and_what_comes_later() -> None:
    released: list[int] = []
    stream = Stream(False, released.append, lambda fn: None)
    stream.put(0, "a")
    stream.abandon()
    stream.put(1, "b")
    assert released == [0, 1]


async def test_sync_iteration_of_a_stream_fails_with_the_run_when_the_run_ends() -> None:
    run = Run(run_id="r", window=8, resources=None)
    released: list[int] = []
    stream = Stream(True, released.append, run.from_thread)
    seen: list[str] = []
    outcome: list[BaseException] = []

    def collector() -> None:
        try:
            for value in stream:  # blocks in from_thread until the run is over
                seen.append(value)
        except BaseException as exc:
            outcome.append(exc)

    stream.put(0, "first")
    thread = threading.Thread(target=collector)
    thread.start()
    with anyio.fail_after(5):
        while not seen:
            await anyio.sleep(0)
    run.fail(RuntimeError("the run failed"))
    with pytest.raises(RuntimeError, match="the run failed"), anyio.fail_after(5):
        await run.wait()  # waits until the thread has left from_thread
    thread.join(5)
    assert not thread.is_alive()
    assert seen == ["first"] and isinstance(outcome[0], asyncio.CancelledError)


# -- Run -----------------------------------------------------------------------------------------


async def test_thread_work_of_a_finished_run_never_starts() -> None:
    pool = ThreadPool(1, "test-pool")
    run = Run(run_id="r", window=8, resources=None)
    gate = threading.Event()
    calls: list[int] = []
    first = run.to_thread(pool, gate.wait, 10)
    queued = [run.to_thread(pool, calls.append, n) for n in range(3)]
    run.fail(RuntimeError("over"))
    gate.set()
    with pytest.raises(RuntimeError), anyio.fail_after(5):
        await run.wait()
    with anyio.fail_after(5):
        await first.future
        while pool.busy:
            await anyio.sleep(0)
    assert calls == [] and all(job.future.cancelled() for job in queued)
    pool.close()


async def test_node_tasks_take_themselves_off_the_list_and_a_run_ends_without_their_callbacks() -> (
    None
):
    run = Run(run_id="r", window=8, resources=None)
    ran: list[int] = []

    async def item(n: int) -> None:
        try:
            await asyncio.sleep(0)
            ran.append(n)
        finally:
            run.unlist(asyncio.current_task())

    tasks = [run.spawn_node(item(n)) for n in range(3)]
    assert not any(t.done() for t in tasks)  # each suspended once: listed
    run.finish()
    with anyio.fail_after(5):
        await run.wait()
    assert ran == [0, 1, 2]
    assert all(not t._callbacks for t in tasks)  # type: ignore[attr-defined]


async def test_a_run_failing_before_its_node_tasks_began_ends_and_leaves_none() -> None:
    # On 3.11 the tasks never run their coroutine (cancelled before their first step), so they
    # never unlist themselves: the run's drain must drop them, not wait for them forever. On
    # 3.12+ they start eagerly, suspend at once, and are cancelled there.
    run = Run(run_id="r", window=8, resources=None)
    began: list[int] = []

    async def item(n: int) -> None:
        try:
            began.append(n)
            await asyncio.sleep(10)
        finally:
            run.unlist(asyncio.current_task())

    tasks = [run.spawn_node(item(n)) for n in range(3)]
    run.fail(RuntimeError("over"))
    with pytest.raises(RuntimeError), anyio.fail_after(5):
        await run.wait()
    assert all(t.done() for t in tasks)
    assert began == ([0, 1, 2] if sys.version_info >= (3, 12) else [])


async def test_a_node_task_that_does_not_unlist_itself_still_lets_its_run_end() -> None:
    run = Run(run_id="r", window=8, resources=None)

    async def forgetful() -> None:
        await asyncio.sleep(0)

    task = run.spawn_node(forgetful())
    run.finish()
    with anyio.fail_after(5):
        await run.wait()
    assert task.done()


async def test_a_run_drains_even_when_its_waiter_is_cancelled_again() -> None:
    run = Run(run_id="r", window=8, resources=None)
    cleaned = asyncio.Event()

    async def slow_cleanup() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            await asyncio.sleep(0)  # cleanup that awaits
            cleaned.set()

    run.spawn(slow_cleanup())
    waiter = asyncio.ensure_future(run.wait())
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.sleep(0)
    waiter.cancel()  # again, while it drains
    with pytest.raises(asyncio.CancelledError), anyio.fail_after(5):
        await waiter
    assert cleaned.is_set()
    assert run.info.cancelled


# -- ResourceCache -------------------------------------------------------------------------------


async def test_a_cancelled_resource_builder_hands_over_to_a_waiter() -> None:
    building = asyncio.Event()
    calls: list[int] = []

    async def factory() -> str:
        calls.append(1)
        if len(calls) == 1:
            building.set()
            await asyncio.sleep(10)  # the first builder is cancelled here
        return "built"

    cache = ResourceCache()
    ref = ResourceRef("client", factory, {}, True)
    first = asyncio.ensure_future(cache.aget(ref))
    with anyio.fail_after(5):
        await building.wait()
    second = asyncio.ensure_future(cache.aget(ref))
    await asyncio.sleep(0)
    first.cancel()
    with anyio.fail_after(5):
        assert await second == "built"  # the waiter built it instead of hanging
    with pytest.raises(asyncio.CancelledError):
        await first
    assert len(calls) == 2
    assert await cache.aget(ref) == "built"


async def test_a_failing_resource_builder_fails_every_waiter_with_the_resources_name() -> None:
    async def factory() -> str:
        await asyncio.sleep(0)
        raise ConnectionError("no server")

    cache = ResourceCache()
    ref = ResourceRef("client", factory, {}, True)
    results = await asyncio.gather(cache.aget(ref), cache.aget(ref), return_exceptions=True)
    assert all(isinstance(r, errors.NodeExecutionError) for r in results)
    assert all(isinstance(r, ConnectionError) and r.node == "client" for r in results)


# -- outcomes and the wire -----------------------------------------------------------------------


class NeedsArgs(Exception):
    """An exception whose __init__ needs arguments its args do not hold (a common shape)."""

    def __init__(self, url: str, status: int) -> None:
        super().__init__(f"{url}: HTTP {status}")
        self.url, self.status = url, status


def test_the_error_policy_decides_between_ended_and_raised() -> None:
    boom = ValueError("boom")
    raised = failed("page", "fail", (3,), "'a'", boom)
    assert isinstance(raised, Raised) and raised.error.__cause__ is boom
    ended = failed("page", "deliver", (3,), "'a'", boom)
    assert isinstance(ended, Ended)
    assert ended.failure == ItemFailure("page", (3,), boom, "deliver", "'a'")
    assert isinstance(failed("page", "skip", (), None, boom), Raised)  # outside blocks: fail


class UnloadableError(Exception):
    """An exception whose pickle never loads, whatever pickling helpers are installed (tblib,
    which some test dependencies install, teaches pickle to rebuild NeedsArgs)."""

    def __reduce__(self) -> Any:
        return (_refuse, ())


@pytest.mark.parametrize(
    "exc", [NeedsArgs("http://x/a", 404), UnloadableError("http://x/a: HTTP 404")]
)
def test_an_exception_that_cannot_be_rebuilt_arrives_as_a_remote_error(exc: Exception) -> None:
    record = _wire.error_record(exc)
    if _wire.rebuild(record) is not None:  # its pickle loaded after all: tblib is installed
        assert isinstance(exc, NeedsArgs)
        return
    t_name = type(exc).__name__
    answer = _wire.encode_answer([(failed("page", "fail", (7,), None, exc), {}, (7,))], [], [], 0.0)
    _, outcomes, _, _, _ = _wire.decode_answer(answer, lambda p: "'http://x/a'")
    err = outcomes[0].error  # type: ignore[union-attr]
    assert isinstance(err, errors.RemoteError)
    assert (err.node, err.index) == ("page", (7,))
    assert err.type_name.endswith(t_name) and "HTTP 404" in err.remote_message
    assert t_name in err.remote_traceback and "HTTP 404" in str(err)


def test_an_exception_that_can_be_rebuilt_arrives_as_itself_inside_the_node_error() -> None:
    exc = KeyError("missing")
    answer = _wire.encode_answer(
        [(failed("page", "deliver", (2,), None, exc), {}, (2,))], [], [], 0.0
    )
    _, outcomes, _, _, _ = _wire.decode_answer(answer, lambda p: None)
    ended = outcomes[0]
    assert isinstance(ended, Ended) and isinstance(ended.failure.error, KeyError)
    assert ended.failure.policy == "deliver"


class _Unloadable:
    def __reduce__(self) -> Any:
        return (_refuse, ())


def _refuse() -> Any:
    raise RuntimeError("cannot be rebuilt here")


def test_values_that_do_not_make_the_trip_name_their_node() -> None:
    unpicklable = threading.Lock()
    answer = _wire.encode_answer([(DONE, {"conn": unpicklable}, (1,))], ["conn"], [], 0.0)
    _, (outcome,), _, _, _ = _wire.decode_answer(answer, lambda p: "1")
    assert isinstance(outcome, Raised)
    assert isinstance(outcome.error, errors.SerializationError)
    assert outcome.error.node == "conn" and "lock" in str(outcome.error)

    answer = _wire.encode_answer([(DONE, {"odd": _Unloadable()}, (1,))], ["odd"], [], 0.0)
    _, (outcome,), _, _, _ = _wire.decode_answer(answer, lambda p: "1")
    assert isinstance(outcome, Raised)
    assert isinstance(outcome.error, errors.SerializationError)
    assert outcome.error.node == "odd" and "unpickled" in str(outcome.error)

    answer = _wire.encode_answer([(DONE, {"fine": [1, 2]}, (1,))], ["fine"], [], 0.0)
    _, (outcome,), _, _, _ = _wire.decode_answer(answer, lambda p: "1")
    assert isinstance(outcome, Done) and outcome.value == {"fine": [1, 2]}


def test_node_errors_pickle_as_the_users_class_too() -> None:
    err = errors.node_error("page", (3,), NeedsArgs("http://x/a", 500), "'http://x/a'")
    assert isinstance(err, NeedsArgs) and err.url == "http://x/a" and err.status == 500
    copy = pickle.loads(cloudpickle.dumps(err))
    assert isinstance(copy, NeedsArgs) and isinstance(copy, errors.NodeExecutionError)
    assert (copy.node, copy.index, copy.label, copy.url) == (
        "page",
        (3,),
        "'http://x/a'",
        "http://x/a",
    )
    assert str(copy) == str(err)


def test_a_cancellation_or_exit_is_never_passed_for_by_a_node_error() -> None:
    for exc in (asyncio.CancelledError(), SystemExit(3), KeyboardInterrupt()):
        err = errors.node_error("n", (), exc)
        assert type(err) is errors.NodeExecutionError
        assert not isinstance(err, (asyncio.CancelledError, SystemExit, KeyboardInterrupt))


def test_run_info_starts_alive() -> None:
    assert not RunInfo("x").cancelled
