"""asyncdag: Hamilton-style dataflows on an asyncio streaming scheduler."""

from asyncdag import driver as driver
from asyncdag import errors as errors
from asyncdag import htypes as htypes
from asyncdag import log_setup as log_setup  # quiet logging by default, on every import
from asyncdag._calls import check_cancelled as check_cancelled
from asyncdag.driver import Builder as Builder
from asyncdag.driver import Driver as Driver
from asyncdag.htypes import Collect as Collect
from asyncdag.htypes import CollectAsCompleted as CollectAsCompleted
from asyncdag.htypes import CollectStream as CollectStream
from asyncdag.htypes import Parallelizable as Parallelizable

__version__ = "0.1.0"

__all__ = [
    "Builder",
    "Collect",
    "CollectAsCompleted",
    "CollectStream",
    "Driver",
    "Parallelizable",
    "__version__",
    "check_cancelled",
    "driver",
    "errors",
    "htypes",
]
