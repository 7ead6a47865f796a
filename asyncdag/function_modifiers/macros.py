"""Hamilton's ``function_modifiers.macros`` path: decorators that replace or chain functions."""

from asyncdag.function_modifiers._does import does as does
from asyncdag.function_modifiers._pipe import Applicable as Applicable
from asyncdag.function_modifiers._pipe import apply_to as apply_to
from asyncdag.function_modifiers._pipe import mutate as mutate
from asyncdag.function_modifiers._pipe import pipe as pipe
from asyncdag.function_modifiers._pipe import pipe_input as pipe_input
from asyncdag.function_modifiers._pipe import pipe_output as pipe_output
from asyncdag.function_modifiers._pipe import step as step

__all__ = [
    "Applicable",
    "apply_to",
    "does",
    "mutate",
    "pipe",
    "pipe_input",
    "pipe_output",
    "step",
]
