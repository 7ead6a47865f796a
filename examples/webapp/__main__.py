"""``python -m examples.webapp [--port 8000] [--latency 0.005]``: serve the app on 127.0.0.1.

The first line printed is ``serving on http://127.0.0.1:PORT``; with ``--port 0`` the system
picks a free port, and that line says which. Stop with Ctrl-C (or SIGTERM): uvicorn finishes
the requests in flight, then the app's lifespan closes the driver.

Try it::

    curl -s localhost:8000/quote -d '{"skus": ["apple", "pear"], "customer": "ada"}'
    curl -sN 'localhost:8000/quote/stream?sku=apple&sku=pear&customer=ada'
    curl -s localhost:8000/stats
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import socket

import uvicorn

from examples.webapp import server
from examples.webapp.app import create_app
from examples.webapp.services import Backend


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m examples.webapp", description=__doc__)
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument(
        "--latency", type=float, default=0.005, help="seconds each backend call takes"
    )
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)

    # The socket is bound here rather than by uvicorn so that the port is known (and accepting
    # connections, which queue until the app has started) before the first line is printed.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(2048)
    print(f"serving on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    app = create_app(Backend(latency=args.latency))
    # What is loaded by now lives as long as the process: take it out of the cyclic garbage
    # collector's sight, so that a full collection walks only what requests allocate and
    # holds the event loop that much less.
    gc.freeze()
    # A collection of the older generations walks every object of the requests in flight that
    # has survived a young collection: at 100 concurrent requests, some 27,000 objects, and
    # 3-8 ms with the loop stopped (measured for the middle generation, several times a
    # second; the oldest one, as often as every few seconds). Here they would free nothing:
    # neither asyncdag nor this app leaves reference cycles behind (tests/test_engine_garbage.py
    # and tests/test_webapp.py check it), and what a request allocates is freed by reference
    # counting when it ends. So the middle generation is collected every 1,000 young
    # collections rather than every 10, and the oldest every 1,000 of those; the young
    # generation, where a short-lived cycle would be, is collected as often as by default.
    gc.set_threshold(700, 1000, 1000)
    config = server.config(app, log_level=args.log_level)  # header/keep-alive timeouts, limits
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: uvicorn has shut down cleanly
        uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
