"""Hook recorders shared by the tests that check node events on every executor."""

from __future__ import annotations

from asyncdag import lifecycle


class NodeEvents(lifecycle.LifecycleHooks):
    """Records (node, index) of each node's before and after events; every call succeeds."""

    def __init__(self) -> None:
        self.before: set[tuple[str, tuple[int, ...]]] = set()
        self.after: set[tuple[str, tuple[int, ...]]] = set()

    def run_before_node_execution(self, *, node_name, index, **kw):  # type: ignore[no-untyped-def]
        self.before.add((node_name, index))

    def run_after_node_execution(self, *, node_name, index, success, **kw):  # type: ignore[no-untyped-def]
        assert success
        self.after.add((node_name, index))
