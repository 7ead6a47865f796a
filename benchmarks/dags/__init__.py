"""The dataflow modules the benchmarks run; each module is one DAG for one system.

asyncdag and Hamilton both turn every public function a module defines into a node, so
these modules hold nothing else. Modules for Hamilton import its ``htypes``; modules for
asyncdag import asyncdag's. W0's modules have no fan-out and serve both.
"""
