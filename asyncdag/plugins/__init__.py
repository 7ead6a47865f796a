"""Executors for clusters: ``asyncdag.plugins.dask`` and ``asyncdag.plugins.ray``.

Each needs its optional extra: ``pip install 'asyncdag[dask]'`` or ``'asyncdag[ray]'``.

Hamilton's plugin names are here too, as thin names over asyncdag's executors and progress
bar: ``h_dask.DaskExecutor``, ``h_ray.RayTaskExecutor``, ``h_threadpool.FutureAdapter``,
``h_rich.RichProgressBar`` and ``h_tqdm.ProgressBar``.
"""

__all__: list[str] = []
