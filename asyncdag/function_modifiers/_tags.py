"""``@tag``, ``@tag_outputs``, ``@schema.output``: metadata on nodes.

Tags are string (or list of strings) values under dotted identifier keys; the driver filters on
them (``list_available_variables(tag_filter=...)``)::

    @tag(owner="data-eng", pii="false")
    def users(raw: list[dict]) -> list[dict]: ...
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, ClassVar

from asyncdag.function_modifiers._base import BuildContext, NodeDecorator, TargetType, invalid
from asyncdag.graph._node import Node

__all__ = [
    "RESERVED_TAG_NAMESPACES",
    "SCHEMA_OUTPUT_TAG",
    "SchemaOutput",
    "schema",
    "tag",
    "tag_outputs",
]

#: Top-level tag keys the framework manages; ``@tag`` refuses them unless told to bypass.
RESERVED_TAG_NAMESPACES = (
    "asyncdag",
    "hamilton",
    "data_quality",
    "gdpr",
    "ccpa",
    "dag",
    "module",
    "ray_remote",
)

#: Tag holding ``@schema.output``'s fields as ``"name=type,name=type"``.
SCHEMA_OUTPUT_TAG = "asyncdag.internal.schema_output"


def _key_ok(key: Any, bypass_reserved: bool) -> bool:
    if not isinstance(key, str) or not key:
        return False
    parts = key.split(".")
    if not bypass_reserved and parts[0] in RESERVED_TAG_NAMESPACES:
        return False
    return all(part.isidentifier() for part in parts)


def _value_ok(value: Any) -> bool:
    if isinstance(value, str):
        return True
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, str) for v in value)
        and len(set(value)) == len(value)
    )


def check_tags(decorator: str, tags: Mapping[str, Any], bypass_reserved: bool) -> None:
    bad = [
        f"{k}={v!r}" for k, v in tags.items() if not (_key_ok(k, bypass_reserved) and _value_ok(v))
    ]
    if bad:
        raise invalid(
            decorator,
            None,
            f"invalid tags {', '.join(bad)}: keys are dotted Python identifiers outside the"
            f" reserved namespaces {list(RESERVED_TAG_NAMESPACES)}, values are a string or a"
            " non-empty list of distinct strings",
        )


class tag(NodeDecorator):
    """Attach tags to the function's final nodes (or to ``target_``).

    ``target_`` is ``None`` (the final nodes), ``...`` (every node the function defines), a
    node name or a list of names.

    Example::

        @tag(owner="data-eng", **{"team.area": "billing"})
        def invoices(rows: list[dict]) -> list[dict]: ...
    """

    def __init__(
        self,
        *,
        target_: TargetType = None,
        bypass_reserved_namespaces_: bool = False,
        **tags: str | list[str],
    ) -> None:
        super().__init__(target=target_)
        check_tags(self.decorator_name, tags, bypass_reserved_namespaces_)
        self.tags = dict(tags)

    def decorate_node(self, node: Node, ctx: BuildContext) -> Node:
        return node.copy_with(tags={**node.tags, **self.tags})


class tag_outputs(NodeDecorator):
    """Attach different tags to different nodes of the function, by node name.

    Example::

        @tag_outputs(mean={"unit": "ms"}, count={"unit": "1"})
        @extract_fields({"mean": float, "count": int})
        def stats(xs: list[float]) -> dict: ...
    """

    def __init__(self, **tag_mapping: Mapping[str, str | list[str]]) -> None:
        super().__init__(target=...)
        for tags in tag_mapping.values():
            check_tags(self.decorator_name, tags, False)
        self.tag_mapping = {name: dict(tags) for name, tags in tag_mapping.items()}

    def decorate_node(self, node: Node, ctx: BuildContext) -> Node:
        extra = self.tag_mapping.get(node.name)
        if not extra:
            return node
        return node.copy_with(tags={**node.tags, **extra})


_DATAFRAME_MODULES = ("pandas", "polars", "pyspark", "dask", "modin", "ibis", "pyarrow", "cudf")


def _is_dataframe_type(tp: Any) -> bool:
    if not isinstance(tp, type):
        return False
    pandas = sys.modules.get("pandas")
    if pandas is not None and issubclass(tp, pandas.DataFrame):
        return True
    root = (tp.__module__ or "").split(".")[0]
    return root in _DATAFRAME_MODULES and any(w in tp.__name__ for w in ("Frame", "Table"))


class SchemaOutput(tag):
    """The decorator ``schema.output(...)`` returns."""

    allows_multiple: ClassVar[bool] = False

    def __init__(self, *fields: tuple[str, str], target_: str | None = None) -> None:
        text = ",".join(f"{name}={type_}" for name, type_ in fields)
        super().__init__(target_=target_, bypass_reserved_namespaces_=True)
        self.tags = {SCHEMA_OUTPUT_TAG: text}

    @property
    def decorator_name(self) -> str:
        return "schema.output"

    def decorate_node(self, node: Node, ctx: BuildContext) -> Node:
        if not _is_dataframe_type(node.type):
            raise self.error(
                ctx, f"node {node.name!r} returns {node.type!r}, which is not a dataframe type"
            )
        return super().decorate_node(node, ctx)


class schema:
    """Namespace of schema decorators: ``@schema.output(("a", "int"), ("b", "float"))``."""

    @staticmethod
    def output(*fields: tuple[str, str], target_: str | None = None) -> SchemaOutput:
        """Declare the columns (name, type name) of the DataFrame the function returns.

        Example::

            @schema.output(("user_id", "int"), ("score", "float"))
            def scores(raw: pd.DataFrame) -> pd.DataFrame: ...
        """
        return SchemaOutput(*fields, target_=target_)
