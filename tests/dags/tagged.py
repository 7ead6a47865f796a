"""Nodes with tags (needs ``asyncdag.function_modifiers.tag``); import only when it exists."""

from asyncdag.function_modifiers import tag


@tag(team="data", stage="raw")
def raw(x: int) -> int:
    return x


@tag(team="data", stage="clean")
def clean(raw: int) -> int:
    return raw + 1


@tag(team="web")
def page(clean: int) -> str:
    return str(clean)


def untagged(page: str) -> str:
    return page


def _reference(x: int) -> dict[str, object]:
    return {"raw": x, "clean": x + 1, "page": str(x + 1), "untagged": str(x + 1)}
