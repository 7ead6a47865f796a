"""Executors for clusters: ``asyncdag.plugins.dask`` and ``asyncdag.plugins.ray``.

Each needs its optional extra: ``pip install 'asyncdag[dask]'`` or ``'asyncdag[ray]'``.
"""

__all__: list[str] = []
