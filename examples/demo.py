"""`make demo`: the main example.

For now it runs the first streaming dataflow (``hello_streaming.py``) on both entry points,
``execute()`` from sync code and ``aexecute()`` from async code.
"""

from __future__ import annotations

import asyncio
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))

import hello_streaming

from asyncdag import driver

TEXT = "a stream of words flows through a dataflow one item at a time"


def main() -> int:
    dr = driver.Builder().with_modules(hello_streaming).build()
    outputs = ["longest", "total_length", "shouted"]
    print("execute():  ", dr.execute(outputs, inputs={"text": TEXT}))
    print("aexecute(): ", asyncio.run(dr.aexecute(outputs, inputs={"text": TEXT})))
    dr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
