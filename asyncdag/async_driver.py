"""Hamilton's async driver: ``await dr.execute(...)`` (``hamilton.async_driver``).

Example::

    from asyncdag import async_driver

    dr = await async_driver.Builder().with_modules(my_async_module).build()
    results = await dr.execute(["total"], inputs={"path": "data/"})

It is a :class:`asyncdag.driver.Driver` whose ``execute`` is ``aexecute``: async nodes are
awaited on the running loop, sync ones run off it (on threads), and everything the sync
driver supports works, Parallelizable blocks included. Its default result is the dict of
outputs, as Hamilton's async driver returns.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from asyncdag import _driver_surface, driver
from asyncdag.graph._build import Graph

__all__ = ["AsyncDriver", "Builder"]


class AsyncDriver(driver.Driver):
    """A driver whose ``execute`` is a coroutine.

    Hamilton's constructor: ``AsyncDriver(config, *modules, result_builder=None,
    adapters=None, allow_module_overrides=False)``, then ``await dr.ainit()``.
    """

    def __init__(
        self,
        config: Mapping[str, Any] | Graph,
        *modules: types.ModuleType,
        result_builder: Any = None,
        adapters: Sequence[Any] | None = None,
        allow_module_overrides: bool = False,
        **driver_kwargs: Any,
    ) -> None:
        given = [*(adapters or ()), *([result_builder] if result_builder is not None else [])]
        if isinstance(config, Graph):
            super().__init__(config, adapters=given, **driver_kwargs)
            return
        # an explicit result builder, or the dict of outputs (never the legacy DataFrame)
        graph = _driver_surface.build_graph_for(
            modules, config, given, allow_module_overrides=allow_module_overrides
        )
        super().__init__(graph, adapters=given, **driver_kwargs)

    async def ainit(self) -> AsyncDriver:
        """Hamilton's second construction step; nothing is left to do here."""
        return self

    async def execute(
        self,
        final_vars: Iterable[Any],
        overrides: Mapping[str, Any] | None = None,
        display_graph: bool = False,
        inputs: Mapping[str, Any] | None = None,
    ) -> Any:
        """Run the graph on the running event loop: ``await dr.execute([...], inputs=...)``."""
        return await self.aexecute(final_vars, overrides=overrides, inputs=inputs)


class Builder(driver.Builder):
    """Builds an :class:`AsyncDriver`; ``await builder.build()``."""

    driver_class = AsyncDriver

    def build_without_init(self) -> AsyncDriver:
        """The driver, built synchronously."""
        built = super().build()
        assert isinstance(built, AsyncDriver)
        return built

    async def build(self) -> AsyncDriver:  # type: ignore[override]
        """The driver (a coroutine, as Hamilton's async builder's ``build`` is)."""
        return self.build_without_init()
