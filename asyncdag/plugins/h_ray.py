"""Hamilton's ``plugins.h_ray`` name: ``RayTaskExecutor``.

Example::

    from asyncdag.plugins import h_ray

    dr = (
        driver.Builder()
        .with_modules(m)
        .with_remote_executor(h_ray.RayTaskExecutor(num_cpus=4))
        .build()
    )

:class:`RayTaskExecutor` is :class:`asyncdag.plugins.ray.RayExecutor` that starts Ray when
it is not running yet (``ray.init(num_cpus=..., **ray_init_config)``, unless ``skip_init``;
with ``_node_ip_address="127.0.0.1"`` in the config, every server of it on loopback only);
``ray.shutdown()`` stays yours to call. Hamilton's ``RayGraphAdapter`` (legacy, without
Parallelizable) has no equivalent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asyncdag.errors import ExecutorError
from asyncdag.plugins.ray import RayExecutor, loopback_only

__all__ = ["RayTaskExecutor"]


class RayTaskExecutor(RayExecutor):
    """Hamilton's ``RayTaskExecutor(num_cpus=None, ray_init_config=None, skip_init=False)``."""

    def __init__(
        self,
        num_cpus: int | None = None,
        ray_init_config: Mapping[str, Any] | None = None,
        skip_init: bool = False,
        *,
        max_tasks: int | None = None,
    ) -> None:
        try:
            import ray
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ExecutorError(
                "RayTaskExecutor needs the 'ray' extra: pip install 'asyncdag[ray]'"
            ) from exc
        if not skip_init and not ray.is_initialized():
            config = dict(ray_init_config or {})
            if config.get("_node_ip_address") in ("127.0.0.1", "localhost"):
                with loopback_only():  # this machine only: every server on loopback
                    ray.init(num_cpus=num_cpus, **config)
            else:
                ray.init(num_cpus=num_cpus, **config)
        super().__init__(max_tasks)
