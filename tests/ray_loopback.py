"""Whether the Ray this test process started listens on loopback only."""

from __future__ import annotations

import os

import psutil

__all__ = ["assert_ray_listens_on_loopback_only"]

LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")


def assert_ray_listens_on_loopback_only() -> None:
    """Start an actor, then check every listening socket of this process's children (the GCS,
    the raylet, the workers: the actor's process among them) is bound to loopback."""
    import ray

    @ray.remote
    class Probe:
        async def pid(self) -> int:
            return os.getpid()

    probe = Probe.remote()  # type: ignore[attr-defined]
    actor_pid = ray.get(probe.pid.remote(), timeout=60)
    ours = {p.pid for p in psutil.Process().children(recursive=True)}
    assert actor_pid in ours  # the processes looked at are this Ray's
    listening = [
        (c.laddr.ip, c.laddr.port)
        for c in psutil.net_connections("inet")
        if c.status == psutil.CONN_LISTEN and c.pid in ours
    ]
    assert listening
    assert all(ip in LOOPBACK for ip, _ in listening), listening
    ray.kill(probe)
