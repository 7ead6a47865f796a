"""Hamilton's ``function_modifiers.adapters`` path: loading and saving data."""

from asyncdag.function_modifiers._adapters import dataloader as dataloader
from asyncdag.function_modifiers._adapters import datasaver as datasaver
from asyncdag.function_modifiers._adapters import load_from as load_from
from asyncdag.function_modifiers._adapters import resolve_adapter_class as resolve_adapter_class
from asyncdag.function_modifiers._adapters import save_to as save_to

__all__ = [
    "dataloader",
    "datasaver",
    "load_from",
    "resolve_adapter_class",
    "save_to",
]
