"""An async web app that serves an asyncdag dataflow: ``python -m examples.webapp``.

- ``app.py``: the Starlette app; one driver for the app's life, one run per request.
- ``dataflow.py``: the DAG it serves, with a fan-out over the request's SKUs.
- ``services.py``: the simulated backends the DAG calls, and the reference answer.
"""
