import threading

# every node waits at this barrier: the run finishes only if a, b and c run at the same time
BARRIER = threading.Barrier(3, timeout=30)


def a() -> str:
    BARRIER.wait()
    return "a"


def b() -> str:
    BARRIER.wait()
    return "b"


def c() -> str:
    BARRIER.wait()
    return "c"


def s(a: str, b: str) -> str:
    return a + " " + b


def x(s: str, c: str) -> str:
    return s + " " + c
