"""DAG modules for the executor tests (processes, resources, Dask, Ray, lifecycle).

Each module is an importable dataflow, so that worker processes and cluster workers can load
its functions by reference. Modules that a test checks against plain Python carry a private
``_reference`` function. Nodes that must report where they ran return ``os.getpid()`` and the
thread name as values; nodes that must report that they started (from a worker process, where
no in-memory probe can reach) write marker files into the ``marks`` directory (see
:mod:`tests.dags_exec.marks`).
"""
