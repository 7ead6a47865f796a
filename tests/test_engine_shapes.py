"""DAG shapes that stress how the engine launches async steps: long chains (a step's task goes
on with the step it unblocked), ladders and wide fans. None may grow the stack with its
length, and a long chain of nodes that never suspend must still let the loop run others."""

from __future__ import annotations

import asyncio
import types
from typing import Any

import anyio
import pytest

from asyncdag import driver

pytestmark = pytest.mark.anyio


def _module(name: str, source: str) -> Any:
    module = types.ModuleType(name)
    exec(compile(f"from __future__ import annotations\n{source}", name, "exec"), module.__dict__)
    return module


def _chain(n: int) -> Any:
    src = ["async def c0(x: int) -> int:\n    return x\n"]
    src += [
        f"async def c{i}(c{i - 1}: int) -> int:\n    return c{i - 1} + 1\n" for i in range(1, n)
    ]
    return _module("chain_dag", "\n".join(src))


def _ladder(n: int) -> Any:
    src = [
        "async def a0(x: int) -> int:\n    return x\n",
        "async def b0(x: int) -> int:\n    return x\n",
    ]
    for i in range(1, n):
        src.append(
            f"async def a{i}(a{i - 1}: int, b{i - 1}: int) -> int:\n    return a{i - 1} + 1\n"
        )
        src.append(f"async def b{i}(a{i - 1}: int) -> int:\n    return a{i - 1}\n")
    return _module("ladder_dag", "\n".join(src))


def _fan(n: int) -> Any:
    src = [f"async def f{i}(x: int) -> int:\n    return x + {i}\n" for i in range(n)]
    src.append(f"def sink({', '.join(f'f{i}: int' for i in range(n))}) -> int:\n")
    src.append(f"    return {' + '.join(f'f{i}' for i in range(n))}\n")
    return _module("fan_dag", "\n".join(src))


@pytest.mark.parametrize(
    "module, output, expected",
    [
        (_chain(3000), "c2999", 1 + 2999),
        (_ladder(1500), "a1499", 1 + 1499),
        (_fan(1500), "sink", 1500 + sum(range(1500))),
    ],
    ids=["chain", "ladder", "fan"],
)
async def test_long_and_wide_async_dags_run_without_growing_the_stack(
    module: Any, output: str, expected: int
) -> None:
    dr = driver.Builder().with_modules(module).build()
    with anyio.fail_after(60):
        assert await dr.aexecute([output], inputs={"x": 1}) == {output: expected}
    assert await anyio.to_thread.run_sync(lambda: dr.execute([output], inputs={"x": 1})) == {
        output: expected
    }


async def test_a_long_chain_of_nodes_that_never_suspend_still_yields_to_the_loop() -> None:
    dr = driver.Builder().with_modules(_chain(3000)).build()
    ticks = 0
    done = False

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.ensure_future(ticker())
    try:
        with anyio.fail_after(60):
            await dr.aexecute(["c2999"], inputs={"x": 1})
        during = ticks
    finally:
        done = True
        await task
    # the chain's task gives the loop a turn every few dozen steps: the ticker ran meanwhile
    assert during >= 3000 // 64
