"""Hamilton's plugin names drive real clusters: ``h_ray.RayTaskExecutor`` starts a local Ray
itself, ``h_dask.DaskExecutor(client=...)`` ships items to a LocalCluster on loopback."""

from __future__ import annotations

import pytest

from asyncdag import driver
from tests.hamilton_scripts.shared import squares

EXPECTED = {"squares": [i * i for i in range(6)]}


def test_ray_task_executor_starts_ray_when_it_is_not_running() -> None:
    ray = pytest.importorskip("ray")
    from asyncdag.plugins import h_ray

    if ray.is_initialized():  # pragma: no cover - another module left it running
        ray.shutdown()
    config = {"include_dashboard": False, "log_to_driver": False, "_node_ip_address": "127.0.0.1"}
    executor = h_ray.RayTaskExecutor(num_cpus=2, ray_init_config=config)
    try:
        assert ray.is_initialized()
        dr = driver.Builder().with_modules(squares).with_remote_executor(executor).build()
        with dr:
            assert dr.execute(["squares"], inputs={"n": 6}) == EXPECTED
        again = h_ray.RayTaskExecutor(skip_init=True)  # Ray is running: used as it is
        again.close()
    finally:
        ray.shutdown()


def test_dask_executor_under_hamilton_s_module_name() -> None:
    distributed = pytest.importorskip("distributed")
    from asyncdag.plugins import h_dask

    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=True, host="127.0.0.1", dashboard_address=None
    )
    client = distributed.Client(cluster)
    try:
        remote = h_dask.DaskExecutor(client=client)
        dr = driver.Builder().with_modules(squares).with_remote_executor(remote).build()
        with dr:
            assert dr.execute(["squares"], inputs={"n": 6}) == EXPECTED
    finally:
        client.close()
        cluster.close()
