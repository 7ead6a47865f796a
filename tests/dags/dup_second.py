"""Redefines ``shared`` of ``dup_first``; with ``allow_module_overrides()`` this one wins."""


def shared(x: int) -> int:
    return x + 100


def only_second(shared: int) -> int:
    return shared * 3


def _reference(x: int) -> dict[str, int]:
    """The values when this module overrides ``dup_first``."""
    return {"shared": x + 100, "only_first": (x + 100) * 2, "only_second": (x + 100) * 3}
