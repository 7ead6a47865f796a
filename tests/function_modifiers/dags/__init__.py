"""Test dataflows for the function modifiers.

Modules importing ``hamilton`` are written as a Hamilton user would; the tests run them on
Hamilton as they are and on asyncdag after replacing ``hamilton`` with ``asyncdag``. Modules
importing ``asyncdag`` use features Hamilton lacks and carry a plain-Python reference.
"""
