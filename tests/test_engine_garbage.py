"""A run leaves no reference cycles: everything it made is freed by reference counting the
moment it is over, never left for the cyclic garbage collector.

Why it matters: a web app runs thousands of small runs a second. Each run that ended as a
cycle (a run holding a function that holds the run; a stream calling back into the
expansion that holds it; a failure whose traceback holds the frames that hold the run) was
garbage only a collection could free, and under load that garbage made the collector run
full collections of several milliseconds every half second, each one stalling the event
loop (``benchmarks/README.md``, WEB).

How: the garbage collector is switched off, the runs run, and one collection with
``DEBUG_SAVEALL`` keeps everything it found unreachable. None of it may be asyncdag's (an
object of an asyncdag type, or a frame of asyncdag code): other threads of the test process
may leave garbage of their own meanwhile, which is not this test's business.
"""

from __future__ import annotations

import asyncio
import gc
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from asyncdag import driver
from asyncdag.execution.executors import MultiProcessingExecutor, MultiThreadingExecutor
from asyncdag.lifecycle import LifecycleHooks

SHAPES = {
    "static": (
        """
async def a(x: int) -> int:
    return x + 1

def b(a: int) -> int:
    return a * 2

async def c(a: int, b: int) -> int:
    return a + b
""",
        "c",
        {"x": 1},
    ),
    "async items": (
        """
import asyncio
from asyncdag.htypes import Collect, Parallelizable

async def item(n: int) -> Parallelizable[int]:
    for i in range(n):
        yield i

async def f(item: int) -> int:
    await asyncio.sleep(0)
    return item + 1

async def g(item: int) -> int:
    return item

async def h(f: int, g: int) -> int:
    return f + g

def total(h: Collect[int]) -> int:
    return sum(h)
""",
        "total",
        {"n": 20},
    ),
    "sync items": (
        """
from asyncdag.htypes import Collect, Parallelizable

def item(n: int) -> Parallelizable[int]:
    yield from range(n)

def f(item: int) -> int:
    return item + 1

def total(f: Collect[int]) -> int:
    return sum(f)
""",
        "total",
        {"n": 20},
    ),
    "async streaming collector": (
        """
from asyncdag.htypes import CollectStream, Parallelizable

async def item(n: int) -> Parallelizable[int]:
    for i in range(n):
        yield i

async def f(item: int) -> int:
    return item + 1

async def total(f: CollectStream[int]) -> int:
    s = 0
    async for v in f:
        s += v
    return s
""",
        "total",
        {"n": 20},
    ),
    "sync streaming collector": (
        """
from asyncdag.htypes import CollectStream, Parallelizable

def item(n: int) -> Parallelizable[int]:
    yield from range(n)

def f(item: int) -> int:
    return item + 1

def total(f: CollectStream[int]) -> int:
    return sum(v for v in f)
""",
        "total",
        {"n": 20},
    ),
    "nested blocks": (
        """
from asyncdag.htypes import Collect, Parallelizable

def outer(n: int) -> Parallelizable[int]:
    yield from range(n)

async def inner(outer: int) -> Parallelizable[int]:
    for i in range(3):
        yield outer * 10 + i

async def f(inner: int) -> int:
    return inner

def s(f: Collect[int]) -> int:
    return sum(f)

def total(s: Collect[int]) -> int:
    return sum(s)
""",
        "total",
        {"n": 5},
    ),
    "items skipped": (
        """
from asyncdag.htypes import Collect, Parallelizable
from asyncdag.policies import on_error

def item(n: int) -> Parallelizable[int]:
    yield from range(n)

@on_error("skip")
async def f(item: int) -> int:
    if item % 2:
        raise ValueError(item)
    return item

def total(f: Collect[int]) -> int:
    return sum(f)
""",
        "total",
        {"n": 10},
    ),
    "run fails": (
        """
from asyncdag.htypes import Collect, Parallelizable

async def item(n: int) -> Parallelizable[int]:
    for i in range(n):
        yield i

async def f(item: int) -> int:
    if item == 3:
        raise ValueError(item)
    return item

def total(f: Collect[int]) -> int:
    return sum(f)
""",
        "total",
        {"n": 20},
    ),
}


def _module(name: str, source: str) -> types.ModuleType:
    module = types.ModuleType(f"garbage_{name.replace(' ', '_')}")
    exec(
        compile(f"from __future__ import annotations\n{source}", module.__name__, "exec"),
        module.__dict__,
    )
    return module


class _Watching(LifecycleHooks):
    """Hooks on every node: the engine's hooked path, not its plain one."""

    def run_before_node_execution(self, **kwargs: Any) -> None:
        pass

    def run_after_node_execution(self, **kwargs: Any) -> None:
        pass


def _ours(obj: Any) -> bool:
    if isinstance(obj, types.FrameType):
        return "/asyncdag/" in obj.f_code.co_filename
    return type(obj).__module__.startswith("asyncdag")


def _describe(obj: Any) -> str:
    if isinstance(obj, types.FrameType):
        return f"frame of {obj.f_code.co_qualname}"
    return type(obj).__qualname__


def asyncdag_garbage(runs: Callable[[], None]) -> list[str]:
    """What of asyncdag's ``runs()`` left for the cyclic collector (described)."""
    gc.collect()
    gc.disable()
    try:
        runs()
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        found = [_describe(o) for o in gc.garbage if _ours(o)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    return sorted(set(found))


async def _swallowing(run: Any) -> None:
    try:
        await run
    except Exception:  # "run fails": the caller has its error; only what is left matters
        pass


async def _read(stream: Any) -> None:
    async for _ in stream:
        pass


@pytest.fixture(scope="module")
def processes() -> Iterator[MultiProcessingExecutor]:
    executor = MultiProcessingExecutor(2)
    yield executor
    executor.close()


@pytest.mark.parametrize("entry", ["execute", "aexecute", "astream"])
@pytest.mark.parametrize("executor", ["default", "threads", "hooks", "cache", "processes"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_run_leaves_no_reference_cycle(
    shape: str,
    executor: str,
    entry: str,
    tmp_path: Any,
    request: pytest.FixtureRequest,
) -> None:
    source, output, inputs = SHAPES[shape]
    builder = driver.Builder().with_modules(_module(shape, source))
    if executor == "threads":
        builder = builder.with_remote_executor(MultiThreadingExecutor(4))
    elif executor == "processes":
        builder = builder.with_remote_executor(request.getfixturevalue("processes"))
    elif executor == "hooks":
        builder = builder.with_adapters(_Watching())
    elif executor == "cache":
        builder = builder.with_cache(path=str(tmp_path / "cache"))
    dr = builder.build()
    loop = asyncio.new_event_loop()

    def once() -> None:
        if entry == "execute":
            try:
                dr.execute([output], inputs=inputs)
            except Exception:
                assert shape == "run fails"
        elif entry == "aexecute":
            loop.run_until_complete(_swallowing(dr.aexecute([output], inputs=inputs)))
        else:
            loop.run_until_complete(_swallowing(_read(dr.astream([output], inputs=inputs))))

    def runs() -> None:
        for _ in range(3):  # with a cache: the first run stores, the others are hits
            once()

    try:
        once()  # what a first run makes once (plans, pools, a private loop) is not garbage
        assert asyncdag_garbage(runs) == []
    finally:
        if executor != "processes":
            dr.close()
        loop.close()


def test_a_failed_process_run_lets_go_of_the_items_it_never_sent() -> None:
    """One slot, one item per batch: when item 0 fails in the worker, the other 49 are still
    waiting to be sent, each holding its expansion, which holds the dispatch that holds them.
    The run lets go of them at its end (found as an intermittent failure of the test above)."""
    source = """
from asyncdag.htypes import Collect, Parallelizable

def item(n: int) -> Parallelizable[int]:
    return list(range(n))

def f(item: int) -> int:
    if item == 0:
        raise ValueError(item)
    return item

def total(f: Collect[int]) -> int:
    return sum(f)
"""
    executor = MultiProcessingExecutor(1, processes=1, max_batch=1)
    try:
        dr = (
            driver.Builder()
            .with_modules(_module("items never sent", source))
            .with_remote_executor(executor)
            .build()
        )

        def runs() -> None:
            for _ in range(3):
                with pytest.raises(Exception, match="ValueError"):
                    dr.execute(["total"], inputs={"n": 50})

        runs()  # the pool's start-up is not garbage
        assert asyncdag_garbage(runs) == []
    finally:
        executor.close()
