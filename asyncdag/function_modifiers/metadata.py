"""Hamilton's ``function_modifiers.metadata`` path: tags and schemas."""

from asyncdag.function_modifiers._deprecated import ray_remote_options as ray_remote_options
from asyncdag.function_modifiers._tags import RESERVED_TAG_NAMESPACES as RESERVED_TAG_NAMESPACES
from asyncdag.function_modifiers._tags import schema as schema
from asyncdag.function_modifiers._tags import tag as tag
from asyncdag.function_modifiers._tags import tag_outputs as tag_outputs

__all__ = [
    "RESERVED_TAG_NAMESPACES",
    "ray_remote_options",
    "schema",
    "tag",
    "tag_outputs",
]
