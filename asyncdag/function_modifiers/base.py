"""Hamilton's ``function_modifiers.base`` path: the error a misapplied decorator raises.

Hamilton's decorator base classes (``NodeTransformer``, ``NodeCreator`` ...) have no
equivalent here: asyncdag's modifiers share one build-stage model (see
``asyncdag.function_modifiers._base``) that a Hamilton subclass would not fit.
"""

from asyncdag.errors import InvalidDecoratorError

#: Hamilton's name for :class:`asyncdag.errors.InvalidDecoratorError`.
InvalidDecoratorException = InvalidDecoratorError

__all__ = ["InvalidDecoratorError", "InvalidDecoratorException"]
