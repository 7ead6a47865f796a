"""Config keys with a meaning to asyncdag itself.

Example::

    from asyncdag import driver, settings

    dr = (
        driver.Builder()
        .with_modules(my_module)
        .with_config({settings.ENABLE_POWER_USER_MODE: True, "metric_names": ["a", "b"]})
        .build()
    )
"""

from __future__ import annotations

__all__ = ["ENABLE_POWER_USER_MODE"]

ENABLE_POWER_USER_MODE = "asyncdag.enable_power_user_mode"
"""Config key that allows power-user decorators such as ``@resolve``.

Set it to ``True`` in the driver's config; without it, a function decorated with ``@resolve``
fails the build with ``InvalidDecoratorError``. Hamilton's key,
``"hamilton.enable_power_user_mode"``, is accepted as well.
"""
