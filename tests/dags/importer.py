"""Imports ``base`` from another DAG module: here it is not a node, so it is an input."""

from dags.arithmetic import base


def tripled(base: int) -> int:
    return 3 * base


def _reference(base: int) -> dict[str, int]:
    return {"tripled": 3 * base}


assert callable(base)  # keep the import used; it must still not become a node
