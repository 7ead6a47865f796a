"""Per-node policies: what happens when a node fails, and how it is paced.

Decorators usable on any node (sync or async, inside blocks or not)::

    from asyncdag.policies import on_error

    @on_error("skip")          # a failing item is dropped from its collectors and logged
    async def page(url: str) -> str: ...

    @on_error("deliver")       # collectors get an htypes.ItemFailure in place of the value
    def parsed(page: str) -> dict: ...

The default is ``"fail"``: the first failure fails the whole run (fail-fast). ``"skip"`` and
``"deliver"`` apply to nodes inside a Parallelizable block and end the failing item only; a
node outside any block always fails the run.
"""

from asyncdag.policies._errors import DELIVER, FAIL, ON_ERROR_TAG, SKIP, on_error

__all__ = ["DELIVER", "FAIL", "ON_ERROR_TAG", "SKIP", "on_error"]
