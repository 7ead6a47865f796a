"""Dataflows drawn by tests/test_viz.py and run by tests/test_cli.py."""
