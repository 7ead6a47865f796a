"""A sync node that blocks its thread until the test releases it."""

import threading


def blocker(started: threading.Event, release: threading.Event) -> bool:
    started.set()
    # The timeout only keeps a broken engine (running this on the loop) from hanging forever.
    return release.wait(timeout=5)


def after(blocker: bool) -> str:
    return "released" if blocker else "timed out"


def _reference() -> dict[str, object]:
    return {"blocker": True, "after": "released"}
