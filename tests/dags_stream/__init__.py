"""DAG modules for the streaming-engine tests.

Each module is a plain dataflow (functions wired by parameter name) with a ``_reference``
function (private, so that it is not a node) computing, with plain sequential Python, what the
dataflow must return. Instruments that tests pass in as inputs (gates, counters, meters) live
in :mod:`tests.dags_stream.probes`.

The ``kind_*`` modules define the same expander ``items`` in five ways; each goes with
``kind_block`` (sync block) or ``kind_block_async`` (async block).
"""
