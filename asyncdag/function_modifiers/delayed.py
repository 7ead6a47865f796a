"""Hamilton's ``function_modifiers.delayed`` path: decorators resolved once the config is known."""

from asyncdag.function_modifiers._dynamic import ResolveAt as ResolveAt
from asyncdag.function_modifiers._dynamic import resolve as resolve
from asyncdag.function_modifiers._dynamic import resolve_from_config as resolve_from_config

__all__ = [
    "ResolveAt",
    "resolve",
    "resolve_from_config",
]
