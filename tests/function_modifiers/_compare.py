"""Run one Hamilton-written dataflow on Hamilton and, ported, on asyncdag; compare."""

from __future__ import annotations

import math
import pathlib
import re
import sys
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from asyncdag import driver, settings

DAGS = pathlib.Path(__file__).parent / "dags"

# What a user replaces when porting: the imports. Hamilton keeps its validator base classes in
# hamilton.data_quality.base; asyncdag exports them from function_modifiers.
_PORT = [
    (r"from hamilton\.data_quality\.base import", "from asyncdag.function_modifiers import"),
    (r"\bhamilton\b", "asyncdag"),  # the package name only: hamilton_exclude stays
]
_LOCAL_IMPORT = re.compile(r"^from function_modifiers\.dags import (\w+)$", re.MULTILINE)


def port(text: str) -> str:
    """A Hamilton module's source, as a user ports it to asyncdag."""
    for old, new in _PORT:
        text = re.sub(old, new, text)
    return text


def load(name: str, framework: str) -> types.ModuleType:
    """``dags/<name>.py`` for ``framework`` ("hamilton" or "asyncdag"), freshly executed.

    Sibling imports (``from function_modifiers.dags import x``) get the same framework's copy.
    """
    text = (DAGS / f"{name}.py").read_text()
    if framework == "asyncdag":
        text = port(text)
    for sibling in _LOCAL_IMPORT.findall(text):
        load(sibling, framework)
    text = _LOCAL_IMPORT.sub(rf"import fm_{framework}_\1 as \1", text)
    module_name = f"fm_{framework}_{name}"
    module = types.ModuleType(module_name)
    module.__file__ = str(DAGS / f"{name}.py")
    # Hamilton looks functions' modules up in sys.modules; asyncdag does not need it.
    sys.modules[module_name] = module
    exec(compile(text, module.__file__, "exec"), module.__dict__)
    return module


def hamilton_driver(module: types.ModuleType, config: Mapping[str, Any]) -> Any:
    from hamilton import driver as hdriver

    return hdriver.Builder().with_modules(module).with_config(dict(config)).build()


def asyncdag_driver(module: types.ModuleType, config: Mapping[str, Any]) -> driver.Driver:
    return driver.Builder().with_modules(module).with_config(dict(config)).build()


def asyncdag_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The same config for asyncdag: Hamilton's power-user key under asyncdag's name."""
    out = dict(config)
    if out.pop("hamilton.enable_power_user_mode", False):
        out[settings.ENABLE_POWER_USER_MODE] = True
    return out


def plain(value: Any) -> Any:
    """A comparable rendering: pandas objects as lists/dicts, validation results as passes."""
    if hasattr(value, "to_dict") and hasattr(value, "columns"):
        return {k: plain(v) for k, v in value.to_dict(orient="list").items()}
    if hasattr(value, "tolist") and hasattr(value, "index"):
        return plain(value.tolist())
    if hasattr(value, "passes") and hasattr(value, "diagnostics"):
        return ("validation", bool(value.passes))
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def normalize_tags(tags: Mapping[str, Any]) -> dict[str, Any]:
    """Tags with Hamilton's framework keys renamed to asyncdag's and its module tag dropped."""
    out = {}
    for key, val in tags.items():
        if key in ("module", "hamilton.non_final_node"):
            continue  # Hamilton's bookkeeping: asyncdag keeps subdag internals out of the tags
        if key.startswith("hamilton."):
            key = "asyncdag." + key[len("hamilton.") :]
        out[key] = val
    return out


@dataclass
class Both:
    """One dataflow built on both frameworks under the same config."""

    hamilton: Any
    asyncdag: driver.Driver

    def node_names(self) -> tuple[set[str], set[str]]:
        def names(variables: Iterable[Any]) -> set[str]:
            return {v.name for v in variables if not v.is_external_input}

        return (
            names(self.hamilton.list_available_variables()),
            names(self.asyncdag.list_available_variables()),
        )

    def tags(self) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        return (
            {
                v.name: normalize_tags(v.tags)
                for v in self.hamilton.list_available_variables()
                if not v.is_external_input
            },
            {
                v.name: normalize_tags(v.tags)
                for v in self.asyncdag.list_available_variables()
                if not v.is_external_input
            },
        )

    def execute(
        self, outputs: list[str], inputs: Mapping[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        h = self.hamilton.execute(outputs, inputs=dict(inputs or {}))
        a = self.asyncdag.execute(outputs, inputs=dict(inputs or {}))
        return {k: plain(v) for k, v in h.items()}, {k: plain(v) for k, v in a.items()}


def both(name: str, config: Mapping[str, Any] | None = None) -> Both:
    config = dict(config or {})
    return Both(
        hamilton=hamilton_driver(load(name, "hamilton"), config),
        asyncdag=asyncdag_driver(load(name, "asyncdag"), asyncdag_config(config)),
    )


def assert_same_run(
    name: str,
    config: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Any] | None = None,
    outputs: list[str] | None = None,
) -> dict[str, Any]:
    """Same nodes, and the same values for ``outputs`` (default: every node); returns them."""
    pair = both(name, config)
    h_names, a_names = pair.node_names()
    assert a_names == h_names, (
        f"asyncdag has {sorted(a_names - h_names)} extra, lacks {sorted(h_names - a_names)}"
    )
    wanted = sorted(h_names) if outputs is None else outputs
    h, a = pair.execute(wanted, inputs)
    assert a == h
    return a
