"""Defines ``shared``; ``dup_second`` defines it too (DuplicateNodeError unless overrides)."""


def shared(x: int) -> int:
    return x + 1


def only_first(shared: int) -> int:
    return shared * 2


def _reference(x: int) -> dict[str, int]:
    return {"shared": x + 1, "only_first": (x + 1) * 2}
