"""Hamilton's ``hamilton.registry`` path: registering loaders and savers.

Example::

    from asyncdag import registry

    registry.register_adapter(MyYamlLoader)
"""

from asyncdag.io._registry import LOADER_REGISTRY as LOADER_REGISTRY
from asyncdag.io._registry import SAVER_REGISTRY as SAVER_REGISTRY
from asyncdag.io._registry import register_adapter as register_adapter

__all__ = ["LOADER_REGISTRY", "SAVER_REGISTRY", "register_adapter"]
