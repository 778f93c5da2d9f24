"""The legacy (pre-expression) parameters, translated into the same trees as expressions.

Role: old code still sends Expected, QueryFilter, ScanFilter, KeyConditions, AttributesToGet,
AttributeUpdates and ConditionalOperator. Each is validated with DynamoDB's messages (as captured
by dynalite's test suite against DynamoDB) and translated into the trees ``nodes.py`` defines,
with generated placeholders (``#legacy0``, ``:legacy0``) carried in the returned maps, so the
evaluators in ``condition.py``, ``update.py`` and ``paths.py`` serve both styles. Legacy attribute
names are always top-level names (no document paths) and are never reserved words.

Refusing a request that mixes both styles is ``request.check_parameter_mix``.
Invariant: every placeholder in a returned tree is defined in the returned maps.
Must not import ray or rocksdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from raydynamo.api.errors import ValidationException
from raydynamo.api.expressions.key_condition import (
    KeyCondition,
    KeyPart,
    KeySchema,
    key_condition_from,
)
from raydynamo.api.expressions.nodes import (
    AddAction,
    And,
    Between,
    Comparison,
    Condition,
    DeleteAction,
    FunctionCall,
    In,
    NameRef,
    Not,
    Or,
    Path,
    ProjectionExpression,
    RemoveAction,
    SetAction,
    UpdateAction,
    UpdateExpression,
    ValueRef,
)
from raydynamo.api.values import compare_scalars, validate_attribute_value, value_type

AttributeValue = Mapping[str, Any]
INVALID = "One or more parameter values were invalid: "

# Operand counts: an int is exact, a tuple is (min, max).
_OPERAND_COUNTS: dict[str, int | tuple[int, int]] = {
    "EQ": 1, "NE": 1, "LE": 1, "LT": 1, "GE": 1, "GT": 1,
    "NULL": 0, "NOT_NULL": 0, "CONTAINS": 1, "NOT_CONTAINS": 1, "BEGINS_WITH": 1,
    "IN": (1, 1_000_000), "BETWEEN": 2,
}  # fmt: skip
_ALL_TYPES = ("S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS", "L", "M")
# API reference (Condition, ExpectedAttributeValue): "EQ is supported for all data types,
# including lists and maps" (and so is NE); the ordering operators, CONTAINS, IN and BETWEEN take
# "String, Number, or Binary (not a set type)"; BEGINS_WITH "String or Binary".
_OPERAND_TYPES: dict[str, tuple[str, ...]] = {
    "EQ": _ALL_TYPES,
    "NE": _ALL_TYPES,
    "LE": ("S", "N", "B"),
    "LT": ("S", "N", "B"),
    "GE": ("S", "N", "B"),
    "GT": ("S", "N", "B"),
    "CONTAINS": ("S", "N", "B"),
    "NOT_CONTAINS": ("S", "N", "B"),
    "BEGINS_WITH": ("S", "B"),
    "IN": ("S", "N", "B"),
    "BETWEEN": ("S", "N", "B"),
}
_COMPARATORS = {"EQ": "=", "NE": "<>", "LE": "<=", "LT": "<", "GE": ">=", "GT": ">"}
_KEY_OPERATORS = ("EQ", "LE", "LT", "GE", "GT", "BEGINS_WITH", "BETWEEN")


@dataclass(frozen=True)
class LegacyTranslation:
    """A translated legacy parameter: its tree and the placeholder maps the tree uses."""

    tree: Condition | UpdateExpression | ProjectionExpression | None
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, AttributeValue] = field(default_factory=dict)


class _Placeholders:
    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, AttributeValue] = {}
        self._by_name: dict[str, str] = {}

    def path(self, attribute: str) -> Path:
        placeholder = self._by_name.get(attribute)
        if placeholder is None:
            placeholder = f"#legacy{len(self.names)}"
            self._by_name[attribute] = placeholder
            self.names[placeholder] = attribute
        return Path((NameRef(placeholder),))

    def value(self, value: AttributeValue) -> ValueRef:
        placeholder = f":legacy{len(self.values)}"
        self.values[placeholder] = value
        return ValueRef(placeholder)


def _check_conditional_operator(operator: str | None) -> str:
    if operator is None:
        return "AND"
    if operator not in ("AND", "OR"):
        raise ValidationException(
            f"1 validation error detected: Value '{operator}' at 'conditionalOperator' failed to "
            "satisfy constraint: Member must satisfy enum value set: [AND, OR]"
        )
    return operator


def _combine(parts: list[Condition], operator: str) -> Condition | None:
    if len(parts) <= 1:
        return parts[0] if parts else None
    return And(tuple(parts)) if operator == "AND" else Or(tuple(parts))


# --- ComparisonOperator conditions -----------------------------------------------------------


def _check_operands(operator: str, operands: list[AttributeValue]) -> None:
    expected = _OPERAND_COUNTS.get(operator)
    if expected is None:
        # wording unverified
        raise ValidationException(
            f"1 validation error detected: Value '{operator}' at 'comparisonOperator' failed to "
            "satisfy constraint: Member must satisfy enum value set: "
            "[IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, "
            "CONTAINS]"
        )
    low, high = expected if isinstance(expected, tuple) else (expected, expected)
    if not low <= len(operands) <= high:
        raise ValidationException(
            f"{INVALID}Invalid number of argument(s) for the {operator} ComparisonOperator"
        )
    for operand in operands:
        validate_attribute_value(operand)
    tags = [value_type(operand) for operand in operands]
    if len(set(tags)) > 1:
        raise ValidationException(
            f"{INVALID}AttributeValues inside AttributeValueList must be of same type"
        )
    if tags and tags[0] not in _OPERAND_TYPES.get(operator, tags[0]):
        raise ValidationException(
            f"{INVALID}ComparisonOperator {operator} is not valid for {tags[0]} AttributeValue type"
        )
    if operator == "BETWEEN":
        order = compare_scalars(operands[0], operands[1])
        if order is not None and order > 0:
            raise ValidationException(
                "The BETWEEN condition was provided a range where the lower bound is greater "
                "than the upper bound"
            )


def _comparison(
    placeholders: _Placeholders, attribute: str, operator: str, operands: list[AttributeValue]
) -> Condition:
    path = placeholders.path(attribute)
    refs = [placeholders.value(operand) for operand in operands]
    if operator in _COMPARATORS:
        return Comparison(_COMPARATORS[operator], path, refs[0])
    if operator == "NULL":
        return FunctionCall("attribute_not_exists", (path,))
    if operator == "NOT_NULL":
        return FunctionCall("attribute_exists", (path,))
    if operator == "CONTAINS":
        return FunctionCall("contains", (path, refs[0]))
    if operator == "NOT_CONTAINS":
        return Not(FunctionCall("contains", (path, refs[0])))
    if operator == "BEGINS_WITH":
        return FunctionCall("begins_with", (path, refs[0]))
    if operator == "IN":
        return In(path, tuple(refs))
    return Between(path, refs[0], refs[1])


def translate_filter(
    conditions: Mapping[str, Mapping[str, Any]] | None, conditional_operator: str | None = None
) -> LegacyTranslation:
    """QueryFilter / ScanFilter: ``{attr: {ComparisonOperator, AttributeValueList}}``."""
    operator = _check_conditional_operator(conditional_operator)
    placeholders = _Placeholders()
    parts: list[Condition] = []
    for attribute, condition in (conditions or {}).items():
        comparison = condition.get("ComparisonOperator")
        operands = list(condition.get("AttributeValueList") or [])
        _check_operands(comparison, operands)
        parts.append(_comparison(placeholders, attribute, comparison, operands))
    return LegacyTranslation(_combine(parts, operator), placeholders.names, placeholders.values)


def translate_expected(
    expected: Mapping[str, Mapping[str, Any]] | None, conditional_operator: str | None = None
) -> LegacyTranslation:
    """Expected: ``{attr: {Value, Exists}}`` or ``{attr: {ComparisonOperator, ...}}``."""
    operator = _check_conditional_operator(conditional_operator)
    placeholders = _Placeholders()
    parts = [
        _expected_part(placeholders, attribute, condition)
        for attribute, condition in (expected or {}).items()
    ]
    return LegacyTranslation(_combine(parts, operator), placeholders.names, placeholders.values)


def _expected_part(
    placeholders: _Placeholders, attribute: str, condition: Mapping[str, Any]
) -> Condition:
    if "AttributeValueList" in condition and "Value" in condition:
        raise ValidationException(
            f"{INVALID}Value and AttributeValueList cannot be used together for Attribute: "
            f"{attribute}"
        )
    if "ComparisonOperator" in condition:
        comparison = condition["ComparisonOperator"]
        if "Exists" in condition:
            raise ValidationException(
                f"{INVALID}Exists and ComparisonOperator cannot be used together for Attribute: "
                f"{attribute}"
            )
        has_operands = "AttributeValueList" in condition or "Value" in condition
        if comparison not in ("NULL", "NOT_NULL") and not has_operands:
            raise ValidationException(
                f"{INVALID}Value or AttributeValueList must be used with ComparisonOperator: "
                f"{comparison} for Attribute: {attribute}"
            )
        operands = list(condition.get("AttributeValueList") or [])
        if "Value" in condition:
            operands = [condition["Value"]]
        _check_operands(comparison, operands)
        return _comparison(placeholders, attribute, comparison, operands)
    if "AttributeValueList" in condition:
        raise ValidationException(
            f"{INVALID}AttributeValueList can only be used with a ComparisonOperator for "
            f"Attribute: {attribute}"
        )
    exists = condition.get("Exists")
    value = condition.get("Value")
    if exists is not False and value is None:
        shown = "null" if exists is None else "true"
        raise ValidationException(
            f"{INVALID}Value must be provided when Exists is {shown} for Attribute: {attribute}"
        )
    if exists is False and value is not None:
        raise ValidationException(
            f"{INVALID}Value cannot be used when Exists is false for Attribute: {attribute}"
        )
    if exists is False:
        return FunctionCall("attribute_not_exists", (placeholders.path(attribute),))
    validate_attribute_value(value)
    return Comparison("=", placeholders.path(attribute), placeholders.value(value))


# --- KeyConditions, AttributesToGet, AttributeUpdates ------------------------------------------


def translate_key_conditions(
    key_conditions: Mapping[str, Mapping[str, Any]], schema: KeySchema
) -> KeyCondition:
    """KeyConditions: the same ``KeyCondition`` a KeyConditionExpression yields."""
    singles: dict[str, KeyPart] = {}
    for attribute, condition in key_conditions.items():
        comparison = condition.get("ComparisonOperator")
        operands = list(condition.get("AttributeValueList") or [])
        _check_operands(comparison, operands)
        singles[attribute] = KeyPart(attribute, comparison, tuple(operands))
    not_indexable = tuple(op for op in _OPERAND_COUNTS if op not in _KEY_OPERATORS)
    return key_condition_from(singles, schema, not_indexable=not_indexable)


def translate_attributes_to_get(attributes: list[str]) -> LegacyTranslation:
    """AttributesToGet: a projection on top-level attributes."""
    if not attributes:
        # wording unverified
        raise ValidationException(
            "1 validation error detected: Value '[]' at 'attributesToGet' failed to satisfy "
            "constraint: Member must have length greater than or equal to 1"
        )
    seen: set[str] = set()
    for attribute in attributes:
        if attribute in seen:
            raise ValidationException(f"{INVALID}Duplicate value in attribute name: {attribute}")
        seen.add(attribute)
    placeholders = _Placeholders()
    tree = ProjectionExpression(tuple(placeholders.path(a) for a in attributes))
    return LegacyTranslation(tree, placeholders.names, {})


def translate_attribute_updates(updates: Mapping[str, Mapping[str, Any]]) -> LegacyTranslation:
    """AttributeUpdates: ``{attr: {Action: PUT|ADD|DELETE, Value}}`` (Action defaults to PUT)."""
    placeholders = _Placeholders()
    actions: list[UpdateAction] = []
    for attribute, update in updates.items():
        action = update.get("Action") or "PUT"
        value = update.get("Value")
        path = placeholders.path(attribute)
        if value is None:
            if action != "DELETE":
                # wording unverified
                raise ValidationException(
                    f"{INVALID}Only DELETE action is allowed when no attribute value is specified"
                )
            actions.append(RemoveAction(path))
            continue
        validate_attribute_value(value)
        tag = value_type(value)
        if action == "PUT":
            actions.append(SetAction(path, placeholders.value(value)))
        elif action == "ADD":
            if tag not in ("N", "SS", "NS", "BS", "L"):
                # wording unverified
                raise ValidationException(
                    f"{INVALID}ADD action is not supported for the type {tag}"
                )
            actions.append(AddAction(path, placeholders.value(value), legacy=True))
        elif action == "DELETE":
            if tag not in ("SS", "NS", "BS"):
                # wording unverified
                raise ValidationException(
                    f"{INVALID}DELETE action with value is not supported for the type {tag}"
                )
            actions.append(DeleteAction(path, placeholders.value(value)))
        else:
            raise ValidationException(
                f"1 validation error detected: Value '{action}' at 'attributeUpdates.{attribute}"
                ".member.action' failed to satisfy constraint: Member must satisfy enum value "
                "set: [ADD, PUT, DELETE]"
            )
    tree = UpdateExpression(tuple(actions), ())
    return LegacyTranslation(tree, placeholders.names, placeholders.values)
