"""DAG modules for the per-node policy tests (``tests/test_policies.py``).

Each module is importable, so that worker processes load its functions (and the policies
wrapped around them) by reference. Counters and gauges are module globals: per process, and
reset by the tests through each module's ``reset()``.
"""
