"""``python -m asyncdag``: the ``asyncdag`` command (see :mod:`asyncdag.cli`)."""

from asyncdag.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
