"""Hamilton's ``function_modifiers.configuration`` path: functions chosen by config."""

from asyncdag.function_modifiers._config import config as config
from asyncdag.function_modifiers._config import hamilton_exclude as hamilton_exclude

__all__ = [
    "config",
    "hamilton_exclude",
]
