"""Nodes that report the thread they ran on, next to a value derived from ``token``."""

import threading


def sync_thread(token: int) -> tuple[int, int]:
    return token, threading.get_ident()


async def async_thread(token: int) -> tuple[int, int]:
    return token + 1, threading.get_ident()


def _reference(token: int) -> dict[str, int]:
    """The token part of each node's value (the thread part depends on the executor)."""
    return {"sync_thread": token, "async_thread": token + 1}
