"""Nodes that ask Ray for a custom resource (``@ray_remote_options``), in a sync block and in
an async block; each item reports the resources Ray assigned where it ran."""

from __future__ import annotations

import ray

from asyncdag.function_modifiers import ray_remote_options
from asyncdag.htypes import Collect, Parallelizable


def item(n: int) -> Parallelizable[int]:
    yield from range(n)


@ray_remote_options(resources={"scraper": 1})
def sync_seen(item: int) -> list[str]:
    return sorted(ray.get_runtime_context().get_assigned_resources())


def sync_all(sync_seen: Collect[list[str]]) -> list[list[str]]:
    return sync_seen


@ray_remote_options(resources={"scraper": 1})
async def async_seen(item: int) -> list[str]:
    return sorted(ray.get_runtime_context().get_assigned_resources())


def async_all(async_seen: Collect[list[str]]) -> list[list[str]]:
    return async_seen


@ray_remote_options(runtime_env={"env_vars": {"A": "1"}})
def one(item: int) -> int:
    return item


@ray_remote_options(runtime_env={"env_vars": {"A": "2"}})
def two(one: int) -> int:
    return one


def both(two: Collect[int]) -> int:
    return sum(two)
