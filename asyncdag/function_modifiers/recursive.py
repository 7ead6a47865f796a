"""Hamilton's ``function_modifiers.recursive`` path: reusing a module inside another."""

from asyncdag.function_modifiers._subdag import SubdagParams as SubdagParams
from asyncdag.function_modifiers._subdag import parameterized_subdag as parameterized_subdag
from asyncdag.function_modifiers._subdag import subdag as subdag

__all__ = [
    "SubdagParams",
    "parameterized_subdag",
    "subdag",
]
