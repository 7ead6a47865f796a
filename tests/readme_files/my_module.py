"""The README's `my_module`: a reader's own dataflow module, here a small one."""

from asyncdag.function_modifiers import config


@config.when(config_key="config_value")
def my_intermediate(my_input: int) -> int:
    return my_input * 2


def my_variable(my_intermediate: int) -> int:
    return my_intermediate + 1
