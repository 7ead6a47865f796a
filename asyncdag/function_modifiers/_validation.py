"""``@check_output`` and ``@check_output_custom``: data quality checks as nodes.

A checked node ``n`` becomes three kinds of node: ``n_raw`` (the function), one validator node
per check (``n_range_validator``, ...) that reads ``n_raw``, and ``n`` itself, which reads them
all, warns or fails, and passes ``n_raw``'s value on. On an expander the checks run per item::

    @check_output(range=(0, 100), importance="fail")
    def score(answers: list[int]) -> int:
        return sum(answers)
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import Any

from asyncdag.function_modifiers._base import BuildContext, TargetType, Transformer, invalid
from asyncdag.function_modifiers._validators import (
    BaseDefaultValidator,
    DataValidationLevel,
    DataValidator,
    ValidationResult,
    act_on_results,
    default_validators_for,
    is_async_validator,
)
from asyncdag.graph._node import Dependency, Node, Role

__all__ = [
    "DATA_VALIDATOR_ORIGINAL_OUTPUT_TAG",
    "HAMILTON_DATA_VALIDATOR_ORIGINAL_OUTPUT_TAG",
    "HAMILTON_IS_DATA_VALIDATOR_TAG",
    "IS_DATA_VALIDATOR_TAG",
    "check_output",
    "check_output_custom",
]

#: Tag (``True``) on validator nodes.
IS_DATA_VALIDATOR_TAG = "asyncdag.data_quality.contains_dq_results"
#: Tag on validator nodes: the name of the node they check.
DATA_VALIDATOR_ORIGINAL_OUTPUT_TAG = "asyncdag.data_quality.source_node"
#: The same two tags under Hamilton's documented names: validator nodes carry both, so code
#: that looks for ``hamilton.data_quality.*`` (a string, or Hamilton's constant after the
#: import rename) finds them either way.
HAMILTON_IS_DATA_VALIDATOR_TAG = "hamilton.data_quality.contains_dq_results"
HAMILTON_DATA_VALIDATOR_ORIGINAL_OUTPUT_TAG = "hamilton.data_quality.source_node"


def _validator_callable(
    validator: DataValidator, source: str, is_async: bool
) -> Callable[..., Any]:
    if is_async:

        async def check_async(**kwargs: Any) -> ValidationResult:
            return await validator.validate(kwargs[source])  # type: ignore[no-any-return,misc]

        return check_async

    def check(**kwargs: Any) -> ValidationResult:
        return validator.validate(kwargs[source])

    return check


def _gate_callable(
    node_name: str, raw: str, checks: Sequence[tuple[str, DataValidator]], is_async: bool
) -> Callable[..., Any]:
    def gate(**kwargs: Any) -> Any:
        act_on_results(node_name, [(v, kwargs[name]) for name, v in checks])
        return kwargs[raw]

    if not is_async:
        return gate

    async def gate_async(**kwargs: Any) -> Any:
        return gate(**kwargs)

    return gate_async


def _unique(name: str, taken: set[str]) -> str:
    found, count = name, 0
    while found in taken:
        count += 1
        found = f"{name}_{count}"
    taken.add(found)
    return found


class _DataValidationDecorator(Transformer):
    @abc.abstractmethod
    def validators_for(self, node: Node, ctx: BuildContext) -> list[DataValidator]: ...

    def transform_node(self, node: Node, ctx: BuildContext) -> list[Node]:
        # A node checked twice (stacked decorators) already reads a raw node and validators:
        # pick names that do not collide with them.
        taken = {node.name, *node.dependency_names}
        raw = node.copy_with(name=_unique(f"{node.name}_raw", taken))
        validators = self.validators_for(node, ctx)
        checks: list[tuple[str, DataValidator]] = []
        out: list[Node] = []
        for validator in validators:
            name = _unique(f"{node.name}_{validator.name()}", taken)
            is_async = is_async_validator(validator)
            out.append(
                Node(
                    name=name,
                    type=ValidationResult,
                    callable=_validator_callable(validator, raw.name, is_async),
                    dependencies=(Dependency(raw.name, node.type),),
                    is_async=is_async,
                    tags={
                        **node.tags,
                        IS_DATA_VALIDATOR_TAG: True,
                        DATA_VALIDATOR_ORIGINAL_OUTPUT_TAG: node.name,
                        HAMILTON_IS_DATA_VALIDATOR_TAG: True,
                        HAMILTON_DATA_VALIDATOR_ORIGINAL_OUTPUT_TAG: node.name,
                    },
                    doc=validator.description(),
                    originating_function=node.originating_function,
                    module=node.module,
                )
            )
            checks.append((name, validator))
        gate = Node(
            name=node.name,
            type=node.type,
            callable=_gate_callable(node.name, raw.name, checks, raw.is_async),
            dependencies=(
                Dependency(raw.name, node.type),
                *(Dependency(name, ValidationResult) for name, _ in checks),
            ),
            role=Role.STANDARD,
            is_async=raw.is_async,
            tags=dict(node.tags),
            doc=node.doc,
            originating_function=node.originating_function,
            module=node.module,
        )
        return [*out, gate, raw]


class check_output_custom(_DataValidationDecorator):
    """Check the function's output with your own :class:`DataValidator` instances.

    ``target_`` picks the checked nodes: ``None`` (the final ones), ``...``, a name or names.

    Example::

        @check_output_custom(IsEven(importance="fail"))
        def count(xs: list[int]) -> int:
            return len(xs)
    """

    def __init__(self, *validators: DataValidator, target_: TargetType = None) -> None:
        super().__init__(target=target_)
        self.validators = list(validators)

    def validators_for(self, node: Node, ctx: BuildContext) -> list[DataValidator]:
        return self.validators


class check_output(_DataValidationDecorator):
    """Check the function's output with the built-in validators, one per keyword.

    Keywords: ``data_type``, ``range``, ``values_in``, ``allow_none``, ``contains``,
    ``does_not_contain`` (plain values) and ``data_type``, ``range``, ``values_in``,
    ``allow_nans``, ``max_fraction_nans``, ``max_standard_dev``, ``mean_in_range``
    (pandas Series). ``importance`` is ``"warn"`` (log) or ``"fail"`` (raise
    ``DataValidationError``, failing the node).

    Example::

        @check_output(data_type=float, range=(0.0, 1.0), importance="fail")
        def ratio(hits: int, total: int) -> float:
            return hits / total
    """

    def __init__(
        self,
        importance: str = DataValidationLevel.WARN.value,
        default_validator_candidates: list[type[BaseDefaultValidator]] | None = None,
        target_: TargetType = None,
        **default_validator_kwargs: Any,
    ) -> None:
        super().__init__(target=target_)
        try:
            DataValidationLevel(importance)
        except ValueError:
            raise invalid(
                self.decorator_name,
                None,
                f"importance must be 'warn' or 'fail', not {importance!r}",
            ) from None
        self.importance = importance
        self.default_validator_candidates = default_validator_candidates
        self.default_validator_kwargs = default_validator_kwargs

    def validators_for(self, node: Node, ctx: BuildContext) -> list[DataValidator]:
        try:
            return list(
                default_validators_for(
                    node.type,
                    self.importance,
                    self.default_validator_candidates,
                    **self.default_validator_kwargs,
                )
            )
        except (LookupError, ValueError, TypeError) as exc:
            raise self.error(ctx, f"node {node.name!r}: {exc}") from None
