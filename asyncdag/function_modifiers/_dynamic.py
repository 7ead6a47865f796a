"""``@resolve``: choose a function's decorator from the config, at build time.

A power-user feature: the driver's config must set ``settings.ENABLE_POWER_USER_MODE`` to true.
``decorate_with`` is called with the config values named by its parameters and returns the
decorator to apply::

    @resolve(
        when=ResolveAt.CONFIG_AVAILABLE,
        decorate_with=lambda metric_names: inject(
            sub_metrics=group(*[source(x) for x in metric_names])
        ),
    )
    def all_metrics(sub_metrics: list[dict]) -> dict: ...
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from asyncdag import settings
from asyncdag.function_modifiers._base import BuildContext, Dynamic, Modifier, invalid

__all__ = ["ResolveAt", "power_user_mode", "resolve", "resolve_from_config"]

# Hamilton's spelling of the same switch, accepted so that ported configs keep working.
_HAMILTON_POWER_USER_KEY = "hamilton.enable_power_user_mode"


class ResolveAt(enum.Enum):
    """When ``@resolve`` picks its decorator; only at build time, once the config is known."""

    CONFIG_AVAILABLE = "config_available"


def power_user_mode(config: Mapping[str, Any]) -> bool:
    """Whether ``config`` turns on power-user mode."""
    return bool(config.get(settings.ENABLE_POWER_USER_MODE) or config.get(_HAMILTON_POWER_USER_KEY))


class resolve(Dynamic):
    """Apply the decorator that ``decorate_with(**config values)`` returns.

    Requires ``config[settings.ENABLE_POWER_USER_MODE] = True``. Each parameter of
    ``decorate_with`` names a config key; parameters without a default must be in the config.

    Example::

        @resolve(
            when=ResolveAt.CONFIG_AVAILABLE,
            decorate_with=lambda columns: extract_fields({c: float for c in columns}),
        )
        def stats(rows: list[dict]) -> dict: ...
    """

    def __init__(self, *, when: ResolveAt, decorate_with: Callable[..., Modifier]) -> None:
        if when is not ResolveAt.CONFIG_AVAILABLE:
            raise invalid(
                self.decorator_name, None, f"when must be ResolveAt.CONFIG_AVAILABLE, not {when!r}"
            )
        self.when = when
        self.decorate_with = decorate_with
        self.required: list[str] = []
        self.optional: list[str] = []
        for name, param in inspect.signature(decorate_with).parameters.items():
            if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
                raise invalid(
                    self.decorator_name,
                    None,
                    f"decorate_with's parameters must be plain names of config keys; {name!r}"
                    " is not",
                )
            (self.optional if param.default is not param.empty else self.required).append(name)

    @property
    def decorator_name(self) -> str:
        return "resolve"

    def materialize(self, ctx: BuildContext) -> Modifier:
        if not power_user_mode(ctx.config):
            raise self.error(
                ctx,
                "@resolve is a power-user feature: it makes the graph's shape depend on config."
                f" Enable it by adding {{settings.ENABLE_POWER_USER_MODE: True}} (the key"
                f" {settings.ENABLE_POWER_USER_MODE!r}) to the driver's config",
            )
        missing = [key for key in self.required if key not in ctx.config]
        if missing:
            raise self.error(ctx, f"decorate_with needs config keys {missing}, which are missing")
        kwargs = {key: ctx.config[key] for key in self.required}
        kwargs.update({key: ctx.config[key] for key in self.optional if key in ctx.config})
        try:
            decorator = self.decorate_with(**kwargs)
        except Exception as exc:
            raise self.error(ctx, f"decorate_with raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(decorator, Modifier):
            raise self.error(
                ctx,
                f"decorate_with must return an asyncdag decorator (such as inject(...)), not"
                f" {decorator!r}",
            )
        return decorator


class resolve_from_config(resolve):
    """``@resolve`` with ``when=ResolveAt.CONFIG_AVAILABLE``.

    Example: ``@resolve_from_config(decorate_with=lambda n: parameterize(...))``.
    """

    def __init__(self, *, decorate_with: Callable[..., Modifier]) -> None:
        super().__init__(when=ResolveAt.CONFIG_AVAILABLE, decorate_with=decorate_with)

    @property
    def decorator_name(self) -> str:
        return "resolve_from_config"
