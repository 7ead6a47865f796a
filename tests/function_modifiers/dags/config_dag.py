"""@config.when and friends, the name__suffix rule, and @hamilton_exclude (Hamilton-written)."""

from __future__ import annotations

from hamilton.function_modifiers import config, hamilton_exclude


def base(x: int) -> int:
    return x


@config.when(mode="fast")
def speed__fast(base: int) -> int:
    return base * 10


@config.when_not(mode="fast")
def speed__slow(base: int) -> int:
    return base


@config.when_in(region=["eu", "uk"])
def tax__europe(speed: int) -> float:
    return speed * 0.2


@config.when_not_in(region=["eu", "uk"])
def tax__elsewhere(speed: int) -> float:
    return speed * 0.1


@config(lambda cfg: cfg.get("mode") == "fast" and cfg.get("region") == "eu")
def bonus(speed: int) -> int:
    return speed + 1


@config.when(name="renamed", mode="fast")
def some_function(base: int) -> int:
    return base + 100


@config.when(mode="fast")
@config.when_in(region=["eu"])
def stacked__both(base: int) -> str:
    return "fast and in the eu"


@hamilton_exclude
def helper(value: int) -> int:
    return -value


def uses_helper(base: int) -> int:
    return helper(base) * 2


def unsuffixed__kept(base: int) -> int:
    return base + 1
