"""Hamilton's older decorators, kept for ported code: ``parametrized_input``,
``parametrized`` and ``ray_remote_options``."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from asyncdag.function_modifiers._base import invalid
from asyncdag.function_modifiers._dependencies import source, value
from asyncdag.function_modifiers._parameterize import parameterize
from asyncdag.function_modifiers._tags import tag

__all__ = ["parametrized", "parametrized_input", "ray_remote_options"]

_F = TypeVar("_F", bound=Callable[..., Any])


class parametrized_input(parameterize):
    """One node per entry of ``variable_inputs``, each reading ``parameter`` from another node.

    ``variable_inputs`` maps a source node to ``(output name, docstring)``; the same as
    ``@parameterize(out=({parameter: source(src)}, doc), ...)``.
    """

    def __init__(self, parameter: str, variable_inputs: Mapping[str, tuple[str, str]]) -> None:
        outputs: dict[str, Any] = {}
        for src, spec in variable_inputs.items():
            if not (isinstance(spec, tuple) and len(spec) == 2):
                raise invalid(
                    "parametrized_input", None, f"values are (output name, docstring); got {spec!r}"
                )
            name, doc = spec
            outputs[name] = ({parameter: source(src)}, doc)
        super().__init__(**outputs)


class parametrized(parameterize):
    """One node per ``(output name, docstring)`` key, each with ``parameter`` set to a value."""

    def __init__(self, parameter: str, assigned_output: Mapping[tuple[str, str], Any]) -> None:
        outputs: dict[str, Any] = {}
        for key, literal in assigned_output.items():
            if not (isinstance(key, tuple) and len(key) == 2):
                raise invalid(
                    "parametrized", None, f"keys are (output name, docstring); got {key!r}"
                )
            name, doc = key
            outputs[name] = ({parameter: value(literal)}, doc)
        super().__init__(**outputs)


def ray_remote_options(**options: Any) -> Callable[[_F], _F]:
    """Ray's ``.options(...)`` for a node, recorded as ``ray_remote.<option>`` tags (JSON
    values) as Hamilton does. ``RayExecutor`` ships whole block instances: a block's Ray tasks
    (or async actors) get the largest amount of each resource its nodes ask for.

    Example::

        @ray_remote_options(num_cpus=2, resources={"scraper": 1})
        def parsed(page: str) -> dict: ...
    """
    tags = {f"ray_remote.{k}": json.dumps(v) for k, v in options.items()}
    return tag(**tags, bypass_reserved_namespaces_=True)
