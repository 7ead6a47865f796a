"""The dataflow the web app serves: a price quote for a basket of SKUs.

::

    skus ──► sku            expander: one block instance per SKU
               ├─► price    pricing service    ┐
               ├─► stock    inventory service  │ the block, once per SKU;
               └─► line ◄── discount           ┘ price and stock are awaited at once
                     └─► quote                 collector: Collect[Line], in basket order

    customer ──► discount   loyalty service: once per request, shared by every line

Every service call goes through ``backend``, an input the app passes on each request, the way
a real app passes the HTTP client it opened at start-up (see ``services.py``).

Latency: a block instance starts once every value it reads from outside the block is ready,
so today the SKU calls wait for ``discount``, and a request takes the loyalty call *plus* the
SKU calls (about 11 ms with the default 5 ms backends), not the longer of the two.

Every node is ``async def``, even ``line`` and ``quote``, which only combine values: under
``aexecute`` a sync node runs off the event loop, on a thread, which costs a hop (15-70 us)
per item per request for work that takes a microsecond. An ``async def`` that never awaits
runs inline on the loop, which is where cheap code belongs. Blocking or CPU-heavy work is the
opposite case: write it as a plain ``def`` and it stays off the loop.
"""

from __future__ import annotations

from asyncdag.htypes import Collect, Parallelizable
from examples.webapp.services import Backend, Line, Quote

#: What a request asks for: the lines (streamed one per SKU) and the quote.
OUTPUTS = ("line", "quote")


async def discount(customer: str, backend: Backend) -> int:
    """Percent off for this customer, from the loyalty service."""
    return await backend.call("loyalty", customer)


async def sku(skus: list[str]) -> Parallelizable[str]:
    """Each SKU of the basket opens one block instance."""
    for s in skus:
        yield s


async def price(sku: str, backend: Backend) -> int:
    """List price in cents, from the pricing service."""
    return await backend.call("pricing", sku)


async def stock(sku: str, backend: Backend) -> int:
    """Units in stock, from the inventory service."""
    return await backend.call("inventory", sku)


async def line(sku: str, price: int, stock: int, discount: int) -> Line:
    """One line of the quote."""
    return Line(sku=sku, unit_price=price * (100 - discount) // 100, in_stock=stock > 0)


async def quote(line: Collect[Line], customer: str, discount: int) -> Quote:
    """The lines in basket order, and the total over what is in stock."""
    return Quote(
        customer=customer,
        discount=discount,
        lines=line,
        total=sum(x["unit_price"] for x in line if x["in_stock"]),
        unavailable=[x["sku"] for x in line if not x["in_stock"]],
    )
