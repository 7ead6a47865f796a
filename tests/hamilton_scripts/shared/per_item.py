"""A saver inside a Parallelizable block: one file per item (importable by worker processes)."""

from __future__ import annotations

from asyncdag.function_modifiers import save_to, source
from asyncdag.htypes import Collect, Parallelizable


def city(cities: list) -> Parallelizable[str]:
    yield from cities


def city_path(city: str, folder: str) -> str:
    return folder + "/" + city + ".json"


@save_to.json(path=source("city_path"), output_name_="city_saved")
def city_report(city: str) -> dict:
    return {"city": city, "letters": len(city)}


def saved(city_saved: Collect[dict]) -> list:
    return [m["file_metadata"]["path"] for m in city_saved]
