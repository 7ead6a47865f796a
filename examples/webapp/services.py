"""The services the dataflow calls, simulated, and the quote they must produce.

``Backend`` stands in for what a real app opens at start-up (an HTTP client, a database pool):
each call waits a little, then answers a value that depends only on its service and key, so
``expected_quote`` can compute any response in plain Python. These live apart from
``dataflow.py`` because every public function of a dataflow module is a node.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import TypedDict


class Line(TypedDict):
    """One SKU of the quote."""

    sku: str
    unit_price: int  # cents, after the customer's discount
    in_stock: bool


class Quote(TypedDict):
    """What ``POST /quote`` answers."""

    customer: str
    discount: int  # percent
    lines: list[Line]  # in basket order
    total: int  # cents, over the lines in stock
    unavailable: list[str]


class Backend:
    """The services the nodes call. A call waits ``latency`` seconds, then answers.

    ``in_flight`` maps a call's number to its ``(service, key)`` while it waits, and
    ``cancelled`` counts the calls that were cancelled while waiting: with them an app (or a
    test) can see that a cancelled request leaves nothing of its run behind.

    The pricing service knows no SKU that starts with ``retired-``: it raises ``LookupError``,
    which the app answers with a 500 naming the node.
    """

    def __init__(self, latency: float = 0.005) -> None:
        self.latency = latency
        self.in_flight: dict[int, tuple[str, str]] = {}
        self.calls = 0
        self.cancelled = 0

    async def call(self, service: str, key: str) -> int:
        """Ask ``service`` about ``key``."""
        self.calls += 1
        call_id = self.calls
        self.in_flight[call_id] = (service, key)
        try:
            await self.wait_for_reply(service, key)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            del self.in_flight[call_id]
        return answer(service, key)

    async def wait_for_reply(self, service: str, key: str) -> None:
        """How long the service takes. Tests override this to hold a call until they say so."""
        await asyncio.sleep(self.latency)


def answer(service: str, key: str) -> int:
    """What ``service`` answers for ``key``."""
    if service == "pricing" and key.startswith("retired-"):
        raise LookupError(f"the pricing service has no price for {key!r}")
    digest = hashlib.blake2b(f"{service}:{key}".encode(), digest_size=4).digest()
    n = int.from_bytes(digest, "big")
    if service == "pricing":
        return 100 + n % 9_900  # cents
    if service == "inventory":
        return n % 20  # units
    if service == "loyalty":
        return 5 * (n % 4)  # percent off
    raise LookupError(f"no service {service!r}")


def expected_quote(skus: list[str], customer: str) -> Quote:
    """The quote in plain, sequential Python: what the dataflow must answer for a request."""
    off = answer("loyalty", customer)
    lines = [
        Line(
            sku=s,
            unit_price=answer("pricing", s) * (100 - off) // 100,
            in_stock=answer("inventory", s) > 0,
        )
        for s in skus
    ]
    return Quote(
        customer=customer,
        discount=off,
        lines=lines,
        total=sum(x["unit_price"] for x in lines if x["in_stock"]),
        unavailable=[x["sku"] for x in lines if not x["in_stock"]],
    )
