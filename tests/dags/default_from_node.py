"""A parameter with a default that names a node: the node's value is used, not the default."""


def step() -> int:
    return 5


def offset(base: int, step: int = 10) -> int:
    return base + step


def _reference(base: int, step: int = 5) -> dict[str, int]:
    return {"offset": base + step}
