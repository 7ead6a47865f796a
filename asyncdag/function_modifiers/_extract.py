"""``@extract_fields``, ``@unpack_fields``, ``@extract_columns``: one node per part of a result.

The function's own node stays; each part becomes a node that reads it::

    @extract_fields({"mean": float, "count": int})
    def stats(xs: list[float]) -> dict:
        return {"mean": sum(xs) / len(xs), "count": len(xs)}

On an expander the parts are per item, so they run inside its block.
"""

from __future__ import annotations

import sys
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, get_args, get_origin

from asyncdag.function_modifiers._base import BuildContext, NodeSetModifier, Stage, Transformer
from asyncdag.function_modifiers._base import invalid as _invalid
from asyncdag.function_modifiers._dependencies import ParametrizedDependency
from asyncdag.function_modifiers._parameterize import parameterize
from asyncdag.function_modifiers._wrap import CallStyle, call_style, glue, map_result
from asyncdag.graph._node import Dependency, Node, Role

__all__ = [
    "ParameterizedExtract",
    "extract_columns",
    "extract_fields",
    "parameterize_extract_columns",
    "unpack_fields",
]

_MISSING: Any = object()


def _is_type(tp: Any) -> bool:
    return (
        isinstance(tp, type)
        or tp is Any
        or get_origin(tp) is not None
        or isinstance(tp, (types.UnionType, typing.TypeVar))
    )


def _is_typeddict(tp: Any) -> bool:
    if typing.is_typeddict(tp):
        return True
    extensions = sys.modules.get("typing_extensions")
    return bool(extensions is not None and extensions.is_typeddict(tp))


def _part_node(
    base: Node, name: str, type_: Any, pick: Callable[..., Any], doc: str | None = None
) -> Node:
    """A glue node that reads ``base`` and returns one part of its value."""
    return Node(
        name=name,
        type=type_,
        callable=glue(pick, base.is_async),
        dependencies=(Dependency(base.name, base.type),),
        is_async=base.is_async,
        tags=dict(base.tags),
        doc=base.doc if doc is None else doc,
        originating_function=base.originating_function,
        module=base.module,
    )


def _with_fill(base: Node, fill: Callable[[Any], Any]) -> Node:
    """``base`` whose result is completed by ``fill``; expanders are filled per part instead."""
    style = call_style(base)
    if base.role is Role.EXPAND or style not in (CallStyle.SYNC, CallStyle.AWAIT):
        return base
    return base.copy_with(callable=map_result(base.callable, style, fill))


def _field_picker(source: str, field: str, fill_with: Any) -> Callable[..., Any]:
    def pick(**kwargs: Any) -> Any:
        container = kwargs[source]
        if field in container:
            return container[field]
        if fill_with is not _MISSING:
            return fill_with
        raise KeyError(
            f"field {field!r} is missing from the dict that {source!r} returned;"
            f" it has {list(container)}"
        )

    return pick


class extract_fields(Transformer):
    """One node per field of the dict the function returns.

    ``fields`` is a dict of field name to type, or names only (with a ``dict[str, T]`` or
    ``TypedDict`` return annotation, which gives the types). ``fill_with`` is used for a missing
    field instead of failing.

    Example::

        @extract_fields({"mean": float, "count": int})
        def stats(xs: list[float]) -> dict:
            return {"mean": sum(xs) / len(xs), "count": len(xs)}
    """

    single_target: ClassVar[bool] = True

    def __init__(
        self,
        fields: Mapping[str, Any] | list[str] | str | None = None,
        *others: str,
        fill_with: Any = None,
    ) -> None:
        super().__init__(target=None)
        if isinstance(fields, list):
            fields = [*fields, *others]
        elif fields is not None and not isinstance(fields, Mapping):
            fields = [fields, *others]
        self.fields = fields
        self.fill_with = fill_with

    def transform_node(self, node: Node, ctx: BuildContext) -> list[Node]:
        try:
            resolved = self._field_types(node.type)
        except TypeError as exc:
            raise self.error(ctx, str(exc)) from None
        fill = _MISSING if self.fill_with is None else self.fill_with

        def fill_missing(result: Any) -> Any:
            if isinstance(result, dict):
                for key in resolved:
                    result.setdefault(key, fill)
            return result

        base = node if fill is _MISSING else _with_fill(node, fill_missing)
        parts = [
            _part_node(base, field, type_, _field_picker(base.name, field, fill))
            for field, type_ in resolved.items()
        ]
        return [base, *parts]

    def _field_types(self, output: Any) -> dict[str, Any]:
        fields = self.fields
        if output is dict or output is typing.Dict:  # noqa: UP006
            if not isinstance(fields, Mapping):
                raise TypeError(
                    "the function returns a bare dict, so pass the fields with their types:"
                    " extract_fields({'a': int, 'b': str})"
                )
        elif get_origin(output) is dict:
            if fields is None:
                raise TypeError(
                    "name the fields to extract: extract_fields(['a', 'b']) or with types"
                )
            args = get_args(output)
            if isinstance(fields, list):
                fields = {f: (args[1] if len(args) == 2 else Any) for f in fields}
        elif _is_typeddict(output):
            declared = typing.get_type_hints(output)
            if fields is None:
                fields = declared
            elif isinstance(fields, list):
                unknown = [f for f in fields if f not in declared]
                if unknown:
                    raise TypeError(f"fields {unknown} are not in the TypedDict {output.__name__}")
                fields = {f: declared[f] for f in fields}
            else:
                unknown = [f for f in fields if f not in declared]
                if unknown:
                    raise TypeError(f"fields {unknown} are not in the TypedDict {output.__name__}")
        else:
            raise TypeError(
                f"the function must return a dict (dict, dict[str, T] or a TypedDict), but its"
                f" return annotation is {output!r}"
            )
        assert isinstance(fields, Mapping)
        if not fields:
            raise TypeError("no fields to extract")
        bad = [
            f"{k!r}: {t!r}" for k, t in fields.items() if not isinstance(k, str) or not _is_type(t)
        ]
        if bad:
            raise TypeError(f"each field needs a str name and a type; these do not: {bad}")
        return dict(fields)


def _index_picker(source: str, index: int) -> Callable[..., Any]:
    def pick(**kwargs: Any) -> Any:
        return kwargs[source][index]

    return pick


class unpack_fields(Transformer):
    """One node per element of the tuple the function returns.

    Example::

        @unpack_fields("low", "high")
        def bounds(xs: list[int]) -> tuple[int, int]:
            return min(xs), max(xs)
    """

    single_target: ClassVar[bool] = True

    def __init__(self, *fields: str) -> None:
        super().__init__(target=None)
        self.fields = list(fields)

    def transform_node(self, node: Node, ctx: BuildContext) -> list[Node]:
        output = node.type
        if get_origin(output) is not tuple:
            raise self.error(
                ctx,
                f"the function must return tuple[A, B, ...] or tuple[T, ...], but its return"
                f" annotation is {output!r}",
            )
        args = list(get_args(output))
        if Ellipsis in args:
            if len(args) != 2 or args[1] is not Ellipsis:
                raise self.error(ctx, f"'...' must be the second of two arguments in {output}")
            args = [args[0]] * len(self.fields)
        if len(self.fields) > len(args):
            raise self.error(
                ctx, f"{len(self.fields)} fields to unpack, but {output} has only {len(args)}"
            )
        parts = [
            _part_node(node, field, type_, _index_picker(node.name, i))
            for i, (field, type_) in enumerate(zip(self.fields, args, strict=False))
        ]
        return [node, *parts]


def _dataframe_types() -> tuple[type, type] | None:
    """pandas' DataFrame and Series, imported only when a function needs them."""
    try:
        import pandas
    except ImportError:
        return None
    return pandas.DataFrame, pandas.Series


def _column_picker(source: str, column: str) -> Callable[..., Any]:
    def pick(**kwargs: Any) -> Any:
        frame = kwargs[source]
        if column not in frame:
            raise KeyError(
                f"column {column!r} is missing from the dataframe that {source!r} returned;"
                f" it has {list(frame.columns)}"
            )
        return frame[column]

    return pick


class extract_columns(Transformer):
    """One node (a ``pandas.Series``) per column of the DataFrame the function returns.

    Columns are names or ``(name, docstring)`` tuples. ``fill_with`` creates a missing column
    with that value instead of failing.

    Example::

        @extract_columns("price", "qty")
        def orders(path: str) -> pd.DataFrame:
            return pd.read_csv(path)
    """

    single_target: ClassVar[bool] = True

    def __init__(self, *columns: tuple[str, str] | str, fill_with: Any = None) -> None:
        super().__init__(target=None)
        if not columns:
            raise _invalid(self.decorator_name, None, "name at least one column")
        if isinstance(columns[0], list):
            raise _invalid(
                self.decorator_name, None, "pass columns as arguments: extract_columns(*names)"
            )
        self.columns = columns
        self.fill_with = fill_with

    def transform_node(self, node: Node, ctx: BuildContext) -> list[Node]:
        kinds = _dataframe_types()
        if kinds is None:
            raise self.error(ctx, "needs pandas installed (pip install asyncdag[pandas])")
        frame_type, series_type = kinds
        output = get_origin(node.type) or node.type
        if not (isinstance(output, type) and issubclass(output, frame_type)):
            raise self.error(ctx, f"the function must return a pandas DataFrame, not {node.type!r}")
        names = [c[0] if isinstance(c, tuple) else c for c in self.columns]
        base = node
        if self.fill_with is not None:
            fill_with = self.fill_with

            def fill_missing(frame: Any) -> Any:
                for column in names:
                    if column not in frame:
                        frame[column] = fill_with
                return frame

            base = _with_fill(node, fill_missing)
        parts = []
        for column in self.columns:
            name, doc = column if isinstance(column, tuple) else (column, None)
            parts.append(_part_node(base, name, series_type, _column_picker(base.name, name), doc))
        return [base, *parts]


@dataclass
class ParameterizedExtract:
    """One parameterization of ``@parameterize_extract_columns``: the columns it produces and
    where the function's parameters come from."""

    outputs: tuple[str, ...]
    input_mapping: dict[str, ParametrizedDependency]


class parameterize_extract_columns(NodeSetModifier):
    """``@parameterize`` and ``@extract_columns`` in one: each parameterization runs the function
    with its inputs and extracts its columns (renaming the DataFrame's columns to them).

    Example::

        @parameterize_extract_columns(
            ParameterizedExtract(("a2", "b2"), {"factor": value(2)}),
            ParameterizedExtract(("a3", "b3"), {"factor": value(3)}),
        )
        def scaled(df: pd.DataFrame, factor: int) -> pd.DataFrame:
            return df * factor
    """

    stage = Stage.EXPAND
    allows_multiple: ClassVar[bool] = False

    def __init__(self, *extract_config: ParameterizedExtract, reassign_columns: bool = True):
        self.extract_config = extract_config
        self.reassign_columns = reassign_columns

    def apply(self, nodes: list[Node], ctx: BuildContext) -> list[Node]:
        if len(nodes) != 1:
            raise self.error(ctx, "needs exactly one node to expand")
        (node,) = nodes
        out: list[Node] = []
        for i, extract in enumerate(self.extract_config):
            source_node = node
            if self.reassign_columns:
                columns = list(extract.outputs)

                def rename(frame: Any, columns: list[str] = columns) -> Any:
                    frame.columns = columns
                    return frame

                source_node = _with_fill(node, rename)
            expanded = parameterize(**{f"{node.name}__{i}": extract.input_mapping})
            expanded_nodes = expanded.apply([source_node], ctx)
            out.extend(extract_columns(*extract.outputs).apply(expanded_nodes, ctx))
        return out
