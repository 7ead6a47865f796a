"""Per-node call policies: retry, timeout, concurrency, rate_limit.

Time never decides a test: sleeps and clocks are the modules' ``_sleep`` / ``_asleep`` /
``_monotonic`` hooks, replaced by recorders and a fake clock; limits are observed with
gauges and barriers; anything that could hang runs under ``anyio.fail_after``. The DAGs are
in :mod:`tests.dags_policies`. One process pool serves the worker-process tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
import types
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import cloudpickle
import pytest

from asyncdag import _calls, driver
from asyncdag.errors import NodeExecutionError
from asyncdag.execution import executors
from asyncdag.graph._node import node_from_function
from asyncdag.policies import _limits, _retry, concurrency, rate_limit, retry, timeout
from tests.dags_policies import bounded, modified, paced, retrying, skipping, slow

pytestmark = pytest.mark.anyio


# -- helpers and fixtures ------------------------------------------------------------------------


async def run(module: types.ModuleType, outputs: list[str], **inputs: Any) -> dict[str, Any]:
    async with driver.Builder().with_modules(module).build() as dr:
        with anyio.fail_after(10):
            return await dr.aexecute(outputs, inputs=inputs)


async def run_failing(module: types.ModuleType, output: str, **inputs: Any) -> NodeExecutionError:
    with pytest.raises(NodeExecutionError) as info:
        await run(module, [output], **inputs)
    return info.value


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses retry takes, recorded instead of slept."""
    recorded: list[float] = []

    async def asleep(delay: float) -> None:
        recorded.append(delay)
        await asyncio.sleep(0)

    monkeypatch.setattr(_retry, "_sleep", recorded.append)
    monkeypatch.setattr(_retry, "_asleep", asleep)
    return recorded


class FakeClock:
    """The rate limiter's clock. Sync sleeps move it on unless it is ``frozen``; async sleeps
    are only recorded. (The limiter reserves each caller's turn when it arrives, so with
    concurrent callers a frozen clock shows the turns as the sleeps they take.)"""

    def __init__(self) -> None:
        self.now = 0.0
        self.frozen = False
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        if not self.frozen:
            self.now += delay

    async def asleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        await asyncio.sleep(0)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(_limits, "_monotonic", fake.monotonic)
    monkeypatch.setattr(_limits, "_sleep", fake.sleep)
    monkeypatch.setattr(_limits, "_asleep", fake.asleep)
    return fake


@pytest.fixture(autouse=True)
def fresh_counters() -> Iterator[None]:
    for module in (retrying, skipping, bounded, modified):
        module.reset()
    yield
    slow.RELEASE.set()  # lets an abandoned sync call of slow.sync_stalled finish
    slow.RELEASE.clear()


@pytest.fixture(scope="module")
def pool() -> Iterator[executors.MultiProcessingExecutor]:
    ex = executors.MultiProcessingExecutor(max_tasks=2)
    yield ex
    ex.close()


@contextlib.contextmanager
def on_pool(pool: executors.MultiProcessingExecutor, module: types.ModuleType) -> Iterator[Any]:
    dr = driver.Builder().with_modules(module).with_remote_executor(pool).build()
    try:
        yield dr
    finally:
        dr.local.close()  # not dr.close(): that would close the shared pool


def state_of(wrapper: Callable[..., Any]) -> Any:
    return inspect.getclosurevars(wrapper).nonlocals["state"]


# -- retry -----------------------------------------------------------------------------------


@pytest.mark.parametrize("node", ["fetched", "afetched"])
async def test_retry_succeeds_after_failures(node: str, sleeps: list[float]) -> None:
    result = await run(retrying, [node], n=5, failures=2)
    assert result[node] == [3] * 5  # each item took three attempts
    assert all(retrying.ATTEMPTS[node, i] == 3 for i in range(5))
    assert len(sleeps) == 10
    assert all(0 <= d <= 0.02 for d in sleeps)


@pytest.mark.parametrize("node", ["fetched", "afetched"])
async def test_retry_gives_up_with_the_last_exception_as_cause(
    node: str, sleeps: list[float]
) -> None:
    err = await run_failing(retrying, node, n=3, failures=99)
    assert err.node == node
    assert len(err.index) == 1
    item = err.index[0]
    assert type(err.__cause__) is ConnectionError
    assert str(err.__cause__) == f"item {item}, attempt 3"
    assert retrying.ATTEMPTS[node, item] == 3


@pytest.mark.parametrize("node", ["fetched", "afetched"])
async def test_retry_does_not_retry_unlisted_exceptions(node: str, sleeps: list[float]) -> None:
    err = await run_failing(retrying, node, n=3, failures=1, error="ValueError")
    assert type(err.__cause__) is ValueError
    assert retrying.ATTEMPTS[node, err.index[0]] == 1
    assert sleeps == []


def test_retry_backoff_doubles_up_to_the_cap_without_jitter(sleeps: list[float]) -> None:
    calls = 0

    @retry(6, backoff=0.1, max_backoff=0.5, jitter=False)
    def always() -> None:
        nonlocal calls
        calls += 1
        raise OSError("down")

    with pytest.raises(OSError, match="down"):
        always()
    assert calls == 6
    assert sleeps == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])


async def test_retry_async_backoff_sequence(sleeps: list[float]) -> None:
    @retry(4, backoff=1.0, max_backoff=100.0, jitter=False)
    async def always() -> None:
        raise OSError("down")

    with pytest.raises(OSError):
        await always()
    assert sleeps == [1.0, 2.0, 4.0]


def test_retry_full_jitter_draws_between_zero_and_the_cap(
    sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    draws: list[tuple[float, float]] = []

    def halfway(low: float, high: float) -> float:
        draws.append((low, high))
        return (low + high) / 2

    monkeypatch.setattr(_retry, "_jitter", halfway)

    @retry(5, backoff=0.1, max_backoff=0.3)
    def always() -> None:
        raise OSError

    with pytest.raises(OSError):
        always()
    assert [low for low, _ in draws] == [0, 0, 0, 0]
    assert [high for _, high in draws] == pytest.approx([0.1, 0.2, 0.3, 0.3])
    assert sleeps == pytest.approx([0.05, 0.1, 0.15, 0.15])


def test_retry_real_jitter_stays_below_the_cap(sleeps: list[float]) -> None:
    @retry(40, backoff=0.01, max_backoff=0.04)
    def always() -> None:
        raise OSError

    with pytest.raises(OSError):
        always()
    caps = [min(0.04, 0.01 * 2**k) for k in range(39)]
    assert all(0 <= d <= cap for d, cap in zip(sleeps, caps, strict=True))


def test_retry_giveup_stops_at_once(sleeps: list[float]) -> None:
    calls = 0

    @retry(5, on=OSError, giveup=lambda exc: "fatal" in str(exc))
    def fails(message: str) -> None:
        nonlocal calls
        calls += 1
        raise OSError(message)

    with pytest.raises(OSError, match="fatal"):
        fails("fatal: bad credentials")
    assert calls == 1


async def test_retry_never_catches_the_cancellation_of_its_backoff() -> None:
    calls = 0

    @retry(5, backoff=30, jitter=False)
    async def fails() -> None:
        nonlocal calls
        calls += 1
        raise OSError

    with anyio.fail_after(5):
        task = asyncio.ensure_future(fails())
        while calls == 0:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert calls == 1


class RateLimited(Exception):
    def __init__(self, retry_after: Any = None, headers: Any = None) -> None:
        super().__init__("429")
        self.retry_after = retry_after
        if headers is not None:
            self.headers = headers


def test_retry_wait_reads_the_error(sleeps: list[float]) -> None:
    seen: list[_retry.Attempt] = []
    errors = iter([RateLimited(3.0), OSError("reset"), RateLimited(1.5)])

    def wait(attempt: _retry.Attempt) -> float | None:
        seen.append(attempt)
        return attempt.error.retry_after if isinstance(attempt.error, RateLimited) else None

    @retry(5, backoff=0.1, jitter=False, wait=wait)
    def fetch() -> str:
        error = next(errors, None)
        if error is not None:
            raise error
        return "page"

    assert fetch() == "page"
    assert sleeps == [3.0, 0.2, 1.5]  # the error's wait, the backoff when wait says None
    assert [(a.number, type(a.error), a.backoff) for a in seen] == [
        (1, RateLimited, 0.1),
        (2, OSError, 0.2),
        (3, RateLimited, 0.4),
    ]


async def test_retry_wait_on_an_async_node(sleeps: list[float]) -> None:
    calls = 0

    @retry(3, wait=_retry.retry_after)
    async def fetch() -> int:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise RateLimited(headers={"retry-after": "2"})
        return calls

    assert await fetch() == 3
    assert sleeps == [2.0, 2.0]


def test_retry_wait_longer_than_max_backoff_gives_up(sleeps: list[float]) -> None:
    calls = 0

    @retry(5, max_backoff=10, wait=_retry.retry_after)
    def fetch() -> None:
        nonlocal calls
        calls += 1
        raise RateLimited(retry_after=3600)

    with pytest.raises(RateLimited):
        fetch()
    assert (calls, sleeps) == (1, [])


@pytest.mark.parametrize("bad", [-1, float("nan"), "soon", True])
def test_retry_wait_must_return_seconds(bad: Any, sleeps: list[float]) -> None:
    @retry(3, wait=lambda attempt: bad)
    def fetch() -> None:
        raise OSError("down")

    with pytest.raises(ValueError, match="wait returned"):
        fetch()


class Response:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


class StatusError(Exception):
    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__("503")
        self.response = Response(headers)


@pytest.mark.parametrize(
    ("subject", "seconds"),
    [
        (RateLimited(retry_after=2), 2.0),
        (RateLimited(retry_after="7"), 7.0),
        (RateLimited(retry_after=b" 4 "), 4.0),
        (RateLimited(headers={"Retry-After": "12"}), 12.0),
        (RateLimited(headers={"RETRY-AFTER": "0.5"}), 0.5),
        (StatusError({"Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT"}), 30.0),
        (StatusError({"Retry-After": "Wed, 21 Oct 2015 07:27:00 GMT"}), 0.0),  # past: now
        (RateLimited(retry_after="next week"), None),
        (RateLimited(retry_after="Wed, 21 Oct 2015 07:28:30"), None),  # no zone: not HTTP
        (RateLimited(), None),
        (OSError("no header at all"), None),
    ],
)
def test_retry_after_reads_the_header_where_clients_put_it(
    subject: Exception, seconds: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import email.utils

    now = email.utils.parsedate_to_datetime("Wed, 21 Oct 2015 07:28:00 GMT").timestamp()
    monkeypatch.setattr(_retry, "_now", lambda: now)
    assert _retry.retry_after(_retry.Attempt(1, subject, None, 0.1)) == seconds


def test_retry_after_reads_a_retried_result() -> None:
    result = Response({"Retry-After": "3"})
    assert _retry.retry_after(_retry.Attempt(1, None, result, 0.1)) == 3.0


def test_retry_on_result_tries_again_then_returns_the_last(sleeps: list[float]) -> None:
    answers = iter(["", "", "page"])

    @retry(5, jitter=False, backoff=1, on_result=lambda text: text == "")
    def fetch() -> str:
        return next(answers)

    assert fetch() == "page"
    assert sleeps == [1, 2]

    @retry(3, jitter=False, backoff=1, on_result=lambda text: text == "")
    def always_empty() -> str:
        return ""

    sleeps.clear()
    assert always_empty() == ""  # the attempts ran out: the last result, as it is
    assert sleeps == [1, 2]


async def test_retry_on_result_async_with_wait(sleeps: list[float]) -> None:
    answers = iter([Response({"Retry-After": "5"}), Response({})])

    @retry(3, on_result=lambda r: "Retry-After" in r.headers, wait=_retry.retry_after)
    async def fetch() -> Response:
        return next(answers)

    assert (await fetch()).headers == {}
    assert sleeps == [5.0]


class Call(_calls.CallInfo):
    """A node call as the engine makes one, recording what its retry reporter hears."""

    def __init__(self, node: str, index: tuple[int, ...], label: str | None) -> None:
        self.retries: list[dict[str, Any]] = []

        def on_retry(call: _calls.CallInfo, error: BaseException, delay: float) -> None:
            self.retries.append({"attempt": call.attempt, "error": error, "delay": delay})

        super().__init__(_calls.RunInfo("r1"), node, index, label, on_retry)


def in_call(call: _calls.CallInfo) -> contextlib.AbstractContextManager[None]:
    @contextlib.contextmanager
    def entered() -> Iterator[None]:
        token = _calls._CALL.set(call)
        try:
            yield
        finally:
            _calls._CALL.reset(token)

    return entered()


def test_retry_sets_the_attempt_and_tells_the_node_call(sleeps: list[float]) -> None:
    call = Call("page", (3,), "'https://a.example/x'")
    attempts_seen: list[int] = []
    error = ConnectionError("reset")

    @retry(4, backoff=0.5, jitter=False)
    def page() -> str:
        attempts_seen.append(call.attempt)
        if len(attempts_seen) < 3:
            raise error
        return "ok"

    with in_call(call):
        assert page() == "ok"
    assert attempts_seen == [1, 2, 3]
    assert call.attempt == 3  # what the engine reports as the call's attempts
    assert call.retries == [
        {"attempt": 2, "error": error, "delay": 0.5},
        {"attempt": 3, "error": error, "delay": 1.0},
    ]


async def test_retry_sets_the_attempt_without_a_callback(sleeps: list[float]) -> None:
    call = _calls.CallInfo(_calls.RunInfo("r1"), "page", (0,), None)  # as main's engine makes

    @retry(3)
    async def page() -> None:
        raise OSError

    with in_call(call), pytest.raises(OSError):
        await page()
    assert call.attempt == 3


def test_retries_log_at_info_with_the_node_and_item(
    sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    failures = iter([ConnectionError("reset")])

    @retry(3, backoff=0.25, jitter=False)
    def page() -> str:
        error = next(failures, None)
        if error:
            raise error
        return "ok"

    with caplog.at_level(logging.INFO, logger="asyncdag"):
        with in_call(Call("page", (3, 1), "'https://a.example/x'")):
            page()
        failures = iter([ConnectionError("refused")])
        page()  # outside a run: named by its function
    records = [r for r in caplog.records if r.name == "asyncdag"]
    assert [r.levelno for r in records] == [logging.INFO, logging.INFO]
    assert records[0].getMessage() == (
        "page (3, 1) 'https://a.example/x': attempt 2 of 3 in 0.25 s after ConnectionError: reset"
    )
    assert (
        records[1]
        .getMessage()
        .startswith(
            f"{__name__}.test_retries_log_at_info_with_the_node_and_item.<locals>.page:"
            " attempt 2 of 3"
        )
    )


# -- timeout ---------------------------------------------------------------------------------


async def test_timeout_fails_a_stalled_async_node_naming_it() -> None:
    with anyio.fail_after(5):
        err = await run_failing(slow, "stalled", n=5)
    assert (err.node, err.index) == ("stalled", (2,))
    assert type(err.__cause__) is TimeoutError
    assert "0.05 s" in str(err.__cause__)


async def test_timeout_fails_a_stalled_sync_node_naming_it() -> None:
    with anyio.fail_after(5):  # the stalled call itself would wait 30 s
        err = await run_failing(slow, "sync_stalled", n=5)
    assert (err.node, err.index) == ("sync_stalled", (2,))
    assert type(err.__cause__) is TimeoutError
    assert "0.05 s" in str(err.__cause__)


async def test_timeout_outside_any_block() -> None:
    err = await run_failing(slow, "lone", x=1)
    assert (err.node, err.index) == ("lone", ())
    assert type(err.__cause__) is TimeoutError


async def test_timeout_leaves_the_functions_own_timeout_error_alone() -> None:
    err = await run_failing(slow, "own_timeout", x=7)
    assert str(err.__cause__) == "the server gave up on 7"


async def test_timeout_passes_results_and_errors_through() -> None:
    result = await run(slow, ["stalled", "sync_stalled"], n=2)
    assert result == {"stalled": [0, 1], "sync_stalled": [0, 1]}

    boom = KeyError("boom")

    @timeout(5)
    def raises() -> None:
        raise boom

    with pytest.raises(KeyError) as info:
        raises()
    assert info.value is boom

    @timeout(5)
    def where() -> str:
        return threading.current_thread().name

    assert where().startswith("asyncdag-timeout-where")


# -- concurrency -----------------------------------------------------------------------------


@pytest.mark.parametrize("node", ["crawled", "acrawled"])
async def test_concurrency_bounds_a_block_node(node: str) -> None:
    result = await run(bounded, [node], n=20)
    assert result[node] == list(range(20))
    assert bounded.GAUGE.calls == 20
    # calls meet in pairs at a barrier, so two always run together; a third never does
    assert bounded.GAUGE.peak == 2


async def test_concurrency_holds_across_concurrent_runs() -> None:
    async with driver.Builder().with_modules(bounded).build() as dr:
        with anyio.fail_after(10):
            first, second = await asyncio.gather(
                dr.aexecute(["acrawled"], inputs={"n": 10}),
                dr.aexecute(["acrawled"], inputs={"n": 12}),
            )
    assert first["acrawled"] == list(range(10))
    assert second["acrawled"] == list(range(12))
    assert (bounded.GAUGE.calls, bounded.GAUGE.peak) == (22, 2)


def test_concurrency_holds_across_event_loops() -> None:
    # execute() runs each call on a private loop: two threads, two loops, one bound
    dr = driver.Builder().with_modules(bounded).build()
    results: list[Any] = []

    def one_run(n: int) -> None:
        results.append(dr.execute(["acrawled"], inputs={"n": n}))

    threads = [threading.Thread(target=one_run, args=(n,)) for n in (10, 8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    dr.close()
    assert not any(t.is_alive() for t in threads)
    assert sorted(len(r["acrawled"]) for r in results) == [8, 10]
    assert (bounded.GAUGE.calls, bounded.GAUGE.peak) == (18, 2)


# -- rate limit ------------------------------------------------------------------------------


def test_rate_limit_spaces_calls_evenly_by_default(clock: FakeClock) -> None:
    admitted: list[float] = []

    @rate_limit(4, per=1.0)
    def call() -> None:
        admitted.append(clock.now)

    for _ in range(9):
        call()
    assert admitted == pytest.approx([0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2])


def test_rate_limit_spacing_after_a_quiet_spell_allows_no_burst(clock: FakeClock) -> None:
    admitted: list[float] = []

    @rate_limit(5, per=1.0)
    def call() -> None:
        admitted.append(clock.now)

    call()
    clock.now = 10.0  # quiet for a long time: still one call per 0.2 s, not five at once
    for _ in range(3):
        call()
    assert admitted == pytest.approx([0, 10, 10.2, 10.4])


def test_rate_limit_burst_admits_calls_per_window(clock: FakeClock) -> None:
    admitted: list[float] = []

    @rate_limit(3, per=1.0, burst=3)
    def call() -> None:
        admitted.append(clock.now)

    for _ in range(9):
        call()
    assert admitted == pytest.approx([0, 0, 0, 1, 1, 1, 2, 2, 2])


def test_rate_limit_partial_burst(clock: FakeClock) -> None:
    admitted: list[float] = []

    @rate_limit(6, per=1.0, burst=2)  # at most 2 in any 1/3 s: the rate stays 6 a second
    def call() -> None:
        admitted.append(clock.now)

    for _ in range(6):
        call()
    assert admitted == pytest.approx([0, 0, 1 / 3, 1 / 3, 2 / 3, 2 / 3])


def test_rate_limit_is_a_sliding_window(clock: FakeClock) -> None:
    admitted: list[float] = []

    @rate_limit(2, per=1.0, burst=2)
    def call() -> None:
        admitted.append(clock.now)

    for _ in range(6):
        call()
        clock.now += 0.4
    # a token bucket would let a third call through at 0.8 (and two more at once later)
    assert admitted == pytest.approx([0, 0.4, 1.0, 1.4, 2.0, 2.4])
    assert all(b - a >= 1.0 - 1e-9 for a, b in zip(admitted, admitted[2:]))


def test_rate_limit_keeps_one_window_per_key(clock: FakeClock) -> None:
    admitted: dict[str, list[float]] = defaultdict(list)

    @rate_limit(2, per=1.0, key=lambda url: url.split("/")[0])
    def fetch(url: str, retries: int = 0) -> None:
        admitted[url.split("/")[0]].append(clock.now)

    for i in range(4):
        fetch(f"a.com/{i}")
    clock.frozen = True  # b.com's calls go now, whatever a.com does
    fetch("b.com/0")  # a fresh key: no wait, though a.com is booked ahead
    fetch(url="b.com/1", retries=2)
    assert admitted == {"a.com": [0, 0.5, 1, 1.5], "b.com": [1.5, 1.5]}
    assert clock.sleeps == [0.5, 0.5, 0.5, 0.5]  # b.com's second call waited its 0.5 s


async def test_rate_limit_in_a_block(clock: FakeClock) -> None:
    result = await run(paced, ["apaced"], n=8)
    assert result["apaced"] == list(range(8))
    # one call now, then one every third of a second (async sleeps do not move the clock:
    # every caller's turn is reserved when it arrives)
    assert sorted(clock.sleeps) == pytest.approx([k / 3 for k in range(1, 8)])


async def test_rate_limit_per_host_in_a_block(clock: FakeClock) -> None:
    clock.frozen = True  # the sync calls run on threads, all at once
    result = await run(paced, ["per_host"], n=8)
    assert result["per_host"] == [f"h{i % 2}/{i}" for i in range(8)]
    # each host: one now, then one every half second
    assert sorted(clock.sleeps) == [0.5, 0.5, 1, 1, 1.5, 1.5]


async def test_rate_limit_gives_back_a_cancelled_turn(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    @rate_limit(1, per=10.0)
    async def call() -> None:
        pass

    await call()  # takes the window at 0
    waiting = anyio.Event()

    async def asleep(delay: float) -> None:
        clock.sleeps.append(delay)
        waiting.set()
        await anyio.sleep_forever()

    monkeypatch.setattr(_limits, "_asleep", asleep)
    with anyio.fail_after(5):
        task = asyncio.ensure_future(call())  # reserves 10
        await waiting.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    monkeypatch.setattr(_limits, "_asleep", clock.asleep)
    await call()
    assert clock.sleeps == [10, 10]  # the cancelled turn at 10 went to the next caller


def test_rate_limit_forgets_idle_keys(clock: FakeClock) -> None:
    @rate_limit(1, per=1.0, key=lambda k: k)
    def call(k: int) -> None:
        pass

    for round_ in range(5):
        for k in range(200):
            call(round_ * 1000 + k)
        clock.now += 5
    assert len(state_of(call)._buckets) <= 256


# -- worker processes ------------------------------------------------------------------------


async def test_retry_in_worker_processes(pool: executors.MultiProcessingExecutor) -> None:
    with on_pool(pool, retrying) as dr, anyio.fail_after(30):
        result = await dr.aexecute(["fetched"], inputs={"n": 6, "failures": 2})
    assert result["fetched"] == [3] * 6


async def test_timeout_in_worker_processes(pool: executors.MultiProcessingExecutor) -> None:
    with on_pool(pool, slow) as dr, anyio.fail_after(30):
        with pytest.raises(NodeExecutionError) as info:
            await dr.aexecute(["stalled"], inputs={"n": 4})
    assert (info.value.node, info.value.index) == ("stalled", (2,))
    assert isinstance(info.value.__cause__, TimeoutError)


async def test_concurrency_in_worker_processes(pool: executors.MultiProcessingExecutor) -> None:
    with on_pool(pool, bounded) as dr, anyio.fail_after(30):
        result = await dr.aexecute(["peaked"], inputs={"n": 40})
    assert len(result["peaked"]) == 40
    assert max(result["peaked"]) <= 2  # each worker's peak


async def test_rate_limit_in_worker_processes(pool: executors.MultiProcessingExecutor) -> None:
    with on_pool(pool, paced) as dr, anyio.fail_after(30):
        result = await dr.aexecute(["timed"], inputs={"n": 6})
    by_worker: dict[int, list[float]] = defaultdict(list)
    for pid, at in result["timed"]:
        by_worker[pid].append(at)
    for times in by_worker.values():
        times.sort()
        # one per 0.05 s in each worker; the margin is the loop timer's granularity
        assert all(b - a >= 0.04 for a, b in zip(times, times[1:]))


# -- composition -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("node", "collector"), [("afetched", "acollected"), ("fetched", "collected")]
)
async def test_retry_with_on_error_skip(node: str, collector: str) -> None:
    result = await run(skipping, [collector], n=6, bad=3)
    assert result[collector] == [0, 10, 20, 40, 50]
    assert skipping.ATTEMPTS[node, 3] == 3
    assert all(skipping.ATTEMPTS[node, i] == 2 for i in (0, 1, 2, 4, 5))


IN_PROCESS: dict[str, Callable[[], executors.TaskExecutor]] = {
    "inline": executors.SynchronousLocalTaskExecutor,
    "asyncio": executors.AsyncioExecutor,
    "threads": lambda: executors.MultiThreadingExecutor(max_tasks=3),
}


@pytest.mark.parametrize("executor", IN_PROCESS)
async def test_retry_with_on_error_skip_on_every_executor(executor: str) -> None:
    dr = (
        driver.Builder()
        .with_modules(skipping)
        .with_local_executor(IN_PROCESS[executor]())
        .with_remote_executor(IN_PROCESS[executor]())
        .build()
    )
    async with dr:
        with anyio.fail_after(10):
            result = await dr.aexecute(["collected", "acollected"], inputs={"n": 4, "bad": 0})
    assert result == {"collected": [10, 20, 30], "acollected": [10, 20, 30]}


def test_retry_with_on_error_skip_under_execute() -> None:
    # execute() runs sync nodes inline in its private loop's thread
    dr = driver.Builder().with_modules(skipping).build()
    try:
        result = dr.execute(["collected", "acollected"], inputs={"n": 4, "bad": 2})
    finally:
        dr.close()
    assert result == {"collected": [0, 10, 30], "acollected": [0, 10, 30]}


async def test_retry_with_on_error_skip_in_worker_processes(
    pool: executors.MultiProcessingExecutor,
) -> None:
    with on_pool(pool, skipping) as dr, anyio.fail_after(30):
        result = await dr.aexecute(["collected", "acollected"], inputs={"n": 5, "bad": 1})
    assert result == {"collected": [0, 20, 30, 40], "acollected": [0, 20, 30, 40]}


async def test_policies_with_function_modifiers() -> None:
    async with driver.Builder().with_modules(modified).build() as dr:
        result = await dr.aexecute(["flaky", "plus_one", "plus_two", "a", "b"], inputs={"x": 5})
        tagged = [v.name for v in dr.list_available_variables(tag_filter={"team": "crawl"})]
    assert result == {"flaky": 10, "plus_one": 6, "plus_two": 7, "a": 5, "b": -5}
    assert tagged == ["flaky"]


# -- the wrapper -----------------------------------------------------------------------------

POLICIES: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    "retry": retry(2),
    "timeout": timeout(1),
    "concurrency": concurrency(1),
    "rate_limit": rate_limit(1, key=lambda url: url),
}


def sync_page(url: str, attempts: int = 1) -> list[str]:
    """A page."""
    return [url] * attempts


async def async_page(url: str, attempts: int = 1) -> list[str]:
    """A page."""
    return [url] * attempts


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("fn", [sync_page, async_page])
async def test_the_wrapper_keeps_the_nodes_shape(policy: str, fn: Callable[..., Any]) -> None:
    wrapped = POLICIES[policy](fn)
    for attr in ("__name__", "__qualname__", "__module__", "__doc__", "__annotations__"):
        assert getattr(wrapped, attr) == getattr(fn, attr)
    assert inspect.signature(wrapped) == inspect.signature(fn)
    assert inspect.iscoroutinefunction(wrapped) == inspect.iscoroutinefunction(fn)
    before, after = node_from_function(fn), node_from_function(wrapped)
    assert (after.name, after.type, after.dependencies, after.is_async) == (
        before.name,
        before.type,
        before.dependencies,
        before.is_async,
    )
    out = wrapped("u", attempts=2)
    if inspect.isawaitable(out):
        out = await out
    assert out == ["u", "u"]


@pytest.mark.parametrize(
    "make",
    [
        lambda: retry(0),
        lambda: retry(1.5),  # type: ignore[arg-type]
        lambda: retry(backoff=-1),
        lambda: retry(backoff=float("inf")),
        lambda: retry(max_backoff=float("nan")),
        lambda: retry(on=()),
        lambda: retry(on=(asyncio.CancelledError,)),  # type: ignore[arg-type]
        lambda: retry(on=KeyboardInterrupt),  # type: ignore[arg-type]
        lambda: timeout(0),
        lambda: timeout(-1),
        lambda: timeout(float("inf")),
        lambda: timeout(True),
        lambda: concurrency(0),
        lambda: concurrency(2.0),  # type: ignore[arg-type]
        lambda: rate_limit(0),
        lambda: rate_limit(1, per=0),
        lambda: rate_limit(1, per=float("nan")),
        lambda: rate_limit(3, burst=0),
        lambda: rate_limit(3, burst=4),
        lambda: rate_limit(3, burst=1.5),  # type: ignore[arg-type]
    ],
)
def test_bad_arguments_raise_at_decoration(make: Callable[[], Any]) -> None:
    with pytest.raises(ValueError):
        make()


def test_key_must_read_parameters_of_the_function() -> None:
    with pytest.raises(ValueError, match="'host'"):
        rate_limit(1, key=lambda host: host)(sync_page)
    with pytest.raises(ValueError, match="keyword"):
        rate_limit(1, key=lambda url, /: url)(sync_page)
    rate_limit(1, key=lambda **kw: kw["url"])(sync_page)  # all of them: fine


@pytest.mark.parametrize("policy", POLICIES)
def test_generator_functions_are_refused(policy: str) -> None:
    def numbers() -> Iterator[int]:
        yield 1

    async def anumbers() -> Any:
        yield 1

    for fn in (numbers, anumbers):
        with pytest.raises(ValueError, match="generator"):
            POLICIES[policy](fn)


@pytest.mark.parametrize("decorator", [retry, timeout, concurrency, rate_limit])
def test_bare_use_without_arguments_is_refused(decorator: Callable[..., Any]) -> None:
    with pytest.raises(TypeError, match="with its arguments"):
        decorator(sync_page)


def test_limit_state_is_built_lazily_and_pickles_as_its_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    @concurrency(2)
    def local(x: int) -> int:  # a closure: cloudpickle ships it by value
        return x

    state = state_of(local)
    assert state._lock is None  # nothing built at decoration
    assert local(1) == 1
    assert state._semaphore is not None
    # in this process, unpickling gives back the same state (one bound per process)
    again = cloudpickle.loads(cloudpickle.dumps(local))
    assert state_of(again) is state
    # in a process that has not seen it, a fresh one, built on first use
    monkeypatch.setattr(_limits, "_states", weakref.WeakValueDictionary())
    elsewhere = cloudpickle.loads(cloudpickle.dumps(local))
    fresh = state_of(elsewhere)
    assert fresh is not state
    assert (fresh.limit, fresh._lock) == (2, None)
    assert elsewhere(3) == 3


def test_policy_wrappers_pickle_by_reference_from_modules() -> None:
    restored = cloudpickle.loads(cloudpickle.dumps(bounded.crawled))
    assert restored is bounded.crawled
