"""Execution: executors, grouping strategies, and the streaming scheduler behind them."""

from asyncdag.execution import executors as executors
from asyncdag.execution import grouping as grouping

__all__ = ["executors", "grouping"]
