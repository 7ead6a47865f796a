"""Build time: functions and config become a validated graph of nodes, split into blocks."""
