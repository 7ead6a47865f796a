"""Hamilton's ``hamilton.io.materialization`` path: ``to`` and ``from_``.

Example::

    from asyncdag.io.materialization import from_, to

    metadata, results = dr.materialize(
        to.json(id="report_json", dependencies=["report"], path="report.json"),
        additional_vars=["report"],
    )
"""

from asyncdag.io._materialize import ExtractorFactory as ExtractorFactory
from asyncdag.io._materialize import MaterializerFactory as MaterializerFactory
from asyncdag.io._materialize import from_ as from_
from asyncdag.io._materialize import to as to

__all__ = ["ExtractorFactory", "MaterializerFactory", "from_", "to"]
