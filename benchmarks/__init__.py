"""Benchmarks: asyncdag next to Hamilton and plain Python/asyncio on the same workloads.

Run them all with ``make bench`` (``python -m benchmarks``), or one with
``python -m benchmarks w1``. See ``benchmarks/README.md`` for the workloads, the figures
measured on the reference machine and what they mean.

- ``w0``: per-run overhead of a static 20-node DAG (what a web request pays).
- ``w1``: per-item overhead of a trivial async item function, N = 1k .. 1M.
- ``w2``: I/O latency hiding: 1,000 items x 20 ms sleep at concurrency 50.
- ``w3``: streaming: items run while an async generator is still producing.
- ``w4``: memory: 1,000,000 items through a streaming collector, in a fresh process.

Each workload module has ``run(opts) -> (rows, verdicts)``, used by ``__main__``, and a
``bench(...)`` with size parameters, which ``tests/test_benchmarks_smoke.py`` calls at tiny
sizes. ``python -m benchmarks.profile`` profiles asyncdag's hot paths.
"""
