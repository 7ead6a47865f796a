"""Hamilton's ``function_modifiers.dependencies`` path: where a parameter's value comes from."""

from asyncdag.function_modifiers._dependencies import ConfigDependency as ConfigDependency
from asyncdag.function_modifiers._dependencies import GroupedDependency as GroupedDependency
from asyncdag.function_modifiers._dependencies import GroupedDictDependency as GroupedDictDependency
from asyncdag.function_modifiers._dependencies import GroupedListDependency as GroupedListDependency
from asyncdag.function_modifiers._dependencies import LiteralDependency as LiteralDependency
from asyncdag.function_modifiers._dependencies import (
    ParametrizedDependency as ParametrizedDependency,
)
from asyncdag.function_modifiers._dependencies import SingleDependency as SingleDependency
from asyncdag.function_modifiers._dependencies import UpstreamDependency as UpstreamDependency
from asyncdag.function_modifiers._dependencies import configuration as configuration
from asyncdag.function_modifiers._dependencies import group as group
from asyncdag.function_modifiers._dependencies import source as source
from asyncdag.function_modifiers._dependencies import value as value

__all__ = [
    "ConfigDependency",
    "GroupedDependency",
    "GroupedDictDependency",
    "GroupedListDependency",
    "LiteralDependency",
    "ParametrizedDependency",
    "SingleDependency",
    "UpstreamDependency",
    "configuration",
    "group",
    "source",
    "value",
]
