"""Hamilton's ``plugins.h_dask`` name: ``DaskExecutor(client=...)``.

Example::

    from dask import distributed
    from asyncdag.plugins import h_dask

    client = distributed.Client(distributed.LocalCluster(host="127.0.0.1", dashboard_address=None))
    dr = (
        driver.Builder()
        .with_modules(m)
        .enable_dynamic_execution(allow_experimental_mode=True)
        .with_remote_executor(h_dask.DaskExecutor(client=client))
        .build()
    )

It is :class:`asyncdag.plugins.dask.DaskExecutor`. Hamilton's ``DaskGraphAdapter`` (the
legacy, non-Parallelizable adapter) has no equivalent.
"""

from asyncdag.plugins.dask import DaskExecutor as DaskExecutor

__all__ = ["DaskExecutor"]
