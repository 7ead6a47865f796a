"""Test dataflows, one per module, as Hamilton's ``tests/resources`` do.

Each valid module has a plain-Python ``_reference`` function (private, so it is not a node)
that computes the expected result sequentially. Modules named ``bad_*`` / ``dup_*`` are invalid
on purpose and document which error ``build()`` must raise.
"""
