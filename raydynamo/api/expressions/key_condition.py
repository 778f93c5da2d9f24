"""KeyConditionExpression analysis: from a validated condition to a key range a query can scan.

Role: check a Query's key condition against the table's (or index's) key schema and reduce it to
``KeyCondition``: the partition key's value (always an equality) plus an optional sort key
condition, an operator (EQ, LT, LE, GT, GE, BETWEEN, BEGINS_WITH) and its operands, which the
query executor turns into a range of encoded sort keys. ``SortKeyCondition.matches`` evaluates
the same condition on one sort key value.

Errors are DynamoDB's, in its order: operators a key condition cannot use (``Invalid operator used
in KeyConditionExpression: OR``), malformed single conditions, a repeated key, then the schema
checks (``Query condition missed key schema element: pk``, ``Query key condition not supported``)
and the operand types against the schema's attribute types.

Invariants: a returned ``KeyCondition`` names exactly the schema's partition key, and its sort
condition (if any) names the schema's sort key. Must not import ray or rocksdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from raydynamo.api.errors import ValidationException
from raydynamo.api.expressions.condition import begins_with, between, compare
from raydynamo.api.expressions.nodes import (
    And,
    Between,
    Comparison,
    Condition,
    FunctionCall,
    In,
    Not,
    Operand,
    Or,
    Path,
    ValueRef,
)
from raydynamo.api.expressions.paths import resolve_path
from raydynamo.api.values import value_type

AttributeValue = Mapping[str, Any]

_FLIPPED = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_OPERATOR_NAMES = {"=": "EQ", "<": "LT", "<=": "LE", ">": "GT", ">=": "GE"}
_COMPARATORS = {"EQ": "=", "LT": "<", "LE": "<=", "GT": ">", "GE": ">="}
_NOT_KEY_FUNCTIONS = ("attribute_exists", "attribute_not_exists", "attribute_type", "contains")
_INVALID_CONDITION = "Invalid condition in KeyConditionExpression: "
TYPE_MISMATCH = (
    "One or more parameter values were invalid: Condition parameter type does not match schema type"
)


@dataclass(frozen=True)
class KeySchema:
    """The key attributes a query addresses, with their types when known ("S", "N" or "B")."""

    partition_key: str
    sort_key: str | None = None
    attribute_types: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SortKeyCondition:
    """``operator`` is EQ, LT, LE, GT, GE, BETWEEN (two values) or BEGINS_WITH."""

    operator: str
    values: tuple[AttributeValue, ...]

    def matches(self, sort_value: AttributeValue | None) -> bool:
        """True when an item's sort key value satisfies the condition."""
        if self.operator == "BETWEEN":
            return between(sort_value, self.values[0], self.values[1])
        if self.operator == "BEGINS_WITH":
            return begins_with(sort_value, self.values[0])
        return compare(_COMPARATORS[self.operator], sort_value, self.values[0])


@dataclass(frozen=True)
class KeyCondition:
    partition_key: str
    partition_value: AttributeValue
    sort_key: str | None = None
    sort_condition: SortKeyCondition | None = None


@dataclass(frozen=True)
class KeyPart:
    """One key attribute's condition: EQ, LT, LE, GT, GE, BETWEEN, BEGINS_WITH (or legacy)."""

    attribute: str
    operator: str
    values: tuple[AttributeValue, ...]


def analyze_key_condition(
    condition: Condition,
    names: Mapping[str, str],
    values: Mapping[str, AttributeValue],
    schema: KeySchema,
) -> KeyCondition:
    """Reduce a validated KeyConditionExpression tree to a ``KeyCondition`` for ``schema``."""
    singles: dict[str, KeyPart] = {}
    for part in _conjuncts(condition):
        single = _single(part, names, values)
        if single.attribute in singles:
            raise ValidationException(
                "KeyConditionExpressions must only contain one condition per key"
            )
        singles[single.attribute] = single
    return key_condition_from(singles, schema, not_indexable=())


def key_condition_from(
    singles: Mapping[str, KeyPart], schema: KeySchema, *, not_indexable: tuple[str, ...]
) -> KeyCondition:
    """Check per-attribute conditions against the schema (shared with legacy KeyConditions)."""
    partition = singles.get(schema.partition_key)
    if partition is None:
        raise ValidationException(
            f"Query condition missed key schema element: {schema.partition_key}"
        )
    if len(singles) > 1:
        if schema.sort_key is None:
            raise ValidationException("Query key condition not supported")
        if schema.sort_key not in singles:
            raise ValidationException(
                f"Query condition missed key schema element: {schema.sort_key}"
            )
        if len(singles) > 2:
            # wording unverified
            raise ValidationException("Conditions can be of length 1 or 2 only")
    for single in singles.values():
        if single.operator in not_indexable:
            raise ValidationException(
                "Attempted conditional constraint is not an indexable operation"
            )
    if partition.operator != "EQ":
        raise ValidationException("Query key condition not supported")
    for single in singles.values():
        expected = schema.attribute_types.get(single.attribute)
        if expected is not None and any(value_type(v) != expected for v in single.values):
            raise ValidationException(TYPE_MISMATCH)
        for value in single.values:
            _check_not_empty(single.attribute, value)
    sort = singles.get(schema.sort_key) if schema.sort_key else None
    return KeyCondition(
        partition_key=schema.partition_key,
        partition_value=partition.values[0],
        sort_key=schema.sort_key if sort else None,
        sort_condition=SortKeyCondition(sort.operator, sort.values) if sort else None,
    )


def _check_not_empty(attribute: str, value: AttributeValue) -> None:
    # The wording DynamoDB uses for an empty key value in Key/Item (conformance suite capture);
    # wording unverified for key conditions.
    for tag, kind in (("S", "string"), ("B", "binary")):
        if tag in value and len(value[tag]) == 0:
            raise ValidationException(
                "One or more parameter values are not valid. The AttributeValue for a key "
                f"attribute cannot contain an empty {kind} value. Key: {attribute}"
            )


def _conjuncts(condition: Condition) -> list[Condition]:
    """The ANDed parts of a key condition; any other connective is refused."""
    if isinstance(condition, And):
        return [part for c in condition.conditions for part in _conjuncts(c)]
    if isinstance(condition, Or):
        raise _invalid_operator("OR")
    if isinstance(condition, Not):
        raise _invalid_operator("NOT")
    if isinstance(condition, In):
        raise _invalid_operator("IN")
    if isinstance(condition, Comparison) and condition.operator == "<>":
        raise _invalid_operator("<>")
    if isinstance(condition, FunctionCall) and condition.name in _NOT_KEY_FUNCTIONS:
        raise _invalid_operator(condition.name)
    return [condition]


def _invalid_operator(operator: str) -> ValidationException:
    return ValidationException(f"Invalid operator used in KeyConditionExpression: {operator}")


def _operands(condition: Condition) -> tuple[Operand, ...]:
    if isinstance(condition, Comparison):
        return (condition.left, condition.right)
    if isinstance(condition, Between):
        return (condition.operand, condition.low, condition.high)
    assert isinstance(condition, FunctionCall)
    return condition.args


def _single(
    condition: Condition, names: Mapping[str, str], values: Mapping[str, AttributeValue]
) -> KeyPart:
    operands = _operands(condition)
    if any(isinstance(op, FunctionCall) for op in operands):
        raise ValidationException("KeyConditionExpressions cannot contain nested operations")
    if isinstance(condition, (Between, FunctionCall)) and not isinstance(operands[0], Path):
        label = "BETWEEN" if isinstance(condition, Between) else "begins_with"
        raise ValidationException(
            f"{_INVALID_CONDITION}{label} operator must have the key attribute as its first operand"
        )
    paths = [i for i, op in enumerate(operands) if isinstance(op, Path)]
    if len(paths) > 1:
        raise ValidationException(
            f"{_INVALID_CONDITION}Multiple attribute names used in one condition"
        )
    if not paths:
        raise ValidationException(f"{_INVALID_CONDITION}No key attribute specified")
    path = operands[paths[0]]
    assert isinstance(path, Path)
    resolved = resolve_path(path, names)
    if len(resolved) > 1:
        raise ValidationException(
            "KeyConditionExpressions cannot have conditions on nested attributes"
        )
    operand_values = tuple(values[op.placeholder] for op in operands if isinstance(op, ValueRef))
    attribute = str(resolved[0])
    if isinstance(condition, Between):
        return KeyPart(attribute, "BETWEEN", operand_values)
    if isinstance(condition, FunctionCall):
        return KeyPart(attribute, "BEGINS_WITH", operand_values)
    operator = condition.operator if paths[0] == 0 else _FLIPPED[condition.operator]
    return KeyPart(attribute, _OPERATOR_NAMES[operator], operand_values)
