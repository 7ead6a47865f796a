import asyncio


async def a() -> str:
    await asyncio.sleep(0)
    return "a"


async def b() -> str:
    return "b"


def c() -> str:
    return "c"


async def s(a: str, b: str) -> str:
    return a + " " + b


async def x(s: str, c: str) -> str:
    return s + " " + c
