"""A minimal Parallelizable / Collect DAG with two collectors of one expander."""

from asyncdag.htypes import Collect, Parallelizable


def number(n: int) -> Parallelizable[int]:
    yield from range(n)


def squared(number: int) -> int:
    return number * number


def labelled(squared: int, prefix: str = "#") -> str:
    return f"{prefix}{squared}"


def total(squared: Collect[int]) -> int:
    return sum(squared)


def labels(labelled: Collect[str]) -> list[str]:
    return list(labelled)


def _reference(n: int, prefix: str = "#") -> dict[str, object]:
    squares = [i * i for i in range(n)]
    return {"total": sum(squares), "labels": [f"{prefix}{s}" for s in squares]}
